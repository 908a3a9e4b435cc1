// A producer, a SplitShard in the middle of its writes, and a consumer that follows the
// parent's ChildShards to its children, all with @aws-sdk/client-kinesis on its defaults
// (HTTP/2). Throughput limits stay on: throttled puts and reads are retried, as a real
// producer and consumer do. Prints one JSON object for tests/e2e/test_js_sdk.py: what the
// consumer read per partition key, in the order it read them.
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand,
  SplitShardCommand, GetShardIteratorCommand, GetRecordsCommand,
} from "@aws-sdk/client-kinesis";

const client = new KinesisClient({ endpoint: process.env.SLUICE_ENDPOINT });
const name = process.argv[2];
const KEYS = 8;
const ROUNDS = 40;
const SPLIT_AFTER = 15;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const throttled = (e) => e.name === "ProvisionedThroughputExceededException" ||
  e.name === "LimitExceededException";

async function waitActive() {
  for (let i = 0; i < 600; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") return d.StreamDescriptionSummary;
    await sleep(100);
  }
  throw new Error("stream never ACTIVE");
}

// Each round puts one record per key; a round's failed records are sent again before the
// next round, so each key's records enter the stream in order.
async function produce(state) {
  for (let round = 0; round < ROUNDS; round++) {
    let pending = [];
    for (let k = 0; k < KEYS; k++) {
      pending.push({ PartitionKey: `key-${k}`, Data: new TextEncoder().encode(`key-${k}:${round}`) });
    }
    for (let tries = 0; pending.length > 0; tries++) {
      if (tries > 200) throw new Error("puts kept failing");
      let out;
      try {
        out = await client.send(new PutRecordsCommand({ StreamName: name, Records: pending }));
      } catch (e) {
        if (!throttled(e)) throw e;
        await sleep(100);
        continue;
      }
      pending = pending.filter((_, i) => out.Records[i].ErrorCode !== undefined);
      if (pending.length > 0) await sleep(100);
    }
    state.produced += KEYS;
    if (round === SPLIT_AFTER) {
      // The split runs while the producer goes on writing.
      state.split = client.send(new SplitShardCommand({
        StreamName: name, ShardToSplit: "shardId-000000000000",
        NewStartingHashKey: (1n << 127n).toString(),
      })).then(() => null, (e) => e);
    }
    if (round === SPLIT_AFTER + 5) {
      // Five rounds raced the split; the rest surely go to the children.
      const e = await state.split;
      if (e) throw e;
    }
  }
  state.done = true;
}

async function getRecords(iterator) {
  for (let tries = 0; ; tries++) {
    try {
      return await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
    } catch (e) {
      if (!throttled(e) || tries > 200) throw e;
      await sleep(200);
    }
  }
}

// Reads the parent from TRIM_HORIZON to its end, then each child it names, until every
// produced record was read (or a deadline).
async function consume(state) {
  const byKey = {};
  let read = 0;
  const children = [];
  let parentEnded = false;
  const open = [{ shard: "shardId-000000000000" }];
  const deadline = Date.now() + 90000;
  const first = await client.send(new GetShardIteratorCommand({
    StreamName: name, ShardId: "shardId-000000000000", ShardIteratorType: "TRIM_HORIZON",
  }));
  open[0].iterator = first.ShardIterator;
  while (!(state.done && read >= state.produced)) {
    if (Date.now() > deadline) throw new Error(`read ${read} of ${state.produced} records`);
    for (const s of [...open]) {
      const out = await getRecords(s.iterator);
      for (const r of out.Records) {
        const [key, n] = new TextDecoder().decode(r.Data).split(":");
        if (key !== r.PartitionKey) throw new Error(`record of ${key} under ${r.PartitionKey}`);
        (byKey[key] ??= []).push(Number(n));
        read++;
      }
      if (out.NextShardIterator) {
        s.iterator = out.NextShardIterator;
        continue;
      }
      // The end of a closed shard: its children follow, from their start.
      open.splice(open.indexOf(s), 1);
      if (s.shard === "shardId-000000000000") parentEnded = true;
      for (const c of out.ChildShards ?? []) {
        if (children.includes(c.ShardId)) continue;
        children.push(c.ShardId);
        const it = await client.send(new GetShardIteratorCommand({
          StreamName: name, ShardId: c.ShardId, ShardIteratorType: "TRIM_HORIZON",
        }));
        open.push({ shard: c.ShardId, iterator: it.ShardIterator });
      }
    }
    await sleep(250); // under GetRecords' 5 calls a second per shard
  }
  return { byKey, read, children, parentEnded };
}

try {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await waitActive();
  const state = { produced: 0, done: false, split: null };
  const [, got] = await Promise.all([produce(state), consume(state)]);
  const splitError = await state.split;
  if (splitError) throw splitError;
  const summary = await waitActive();
  console.log(JSON.stringify({
    handler: client.config.requestHandler.constructor.name,
    produced: state.produced,
    rounds: ROUNDS,
    openShards: summary.OpenShardCount,
    ...got,
  }));
} finally {
  client.destroy();
}
