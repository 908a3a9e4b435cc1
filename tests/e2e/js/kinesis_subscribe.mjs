// SubscribeToShard with @aws-sdk/client-kinesis on its defaults (HTTP/2): registers a
// consumer, subscribes to the stream's one shard from TRIM_HORIZON, puts records after
// subscribing (one was put before), and prints what the event stream delivered, as one
// JSON object for tests/e2e/test_js_sdk.py. With "shared" as the third argument every
// call goes over one HTTP/2 connection (disableConcurrentStreams off): the puts then
// travel beside the open subscription on the same connection. A fourth argument pauses
// that many milliseconds before those puts. A line {"subscribed": true} is printed once
// the subscription is open; the last line has the results, also when the stream ends
// before `want` records came.
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand,
  RegisterStreamConsumerCommand, DescribeStreamConsumerCommand, SubscribeToShardCommand,
} from "@aws-sdk/client-kinesis";

const name = process.argv[2];
const want = Number(process.argv[3] || 5);
const shared = process.argv[4] === "shared";
const pauseMs = Number(process.argv[5] || 0); // before the puts that follow subscribing
const client = new KinesisClient({
  endpoint: process.env.SLUICE_ENDPOINT,
  ...(shared ? { requestHandler: { disableConcurrentStreams: false } } : {}),
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const put = (i) => client.send(new PutRecordCommand({
  StreamName: name, PartitionKey: "pk", Data: new TextEncoder().encode(`js-${i}`),
}));
try {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  let arn;
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    arn = d.StreamDescriptionSummary.StreamARN;
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") break;
    await sleep(100);
  }
  const reg = await client.send(new RegisterStreamConsumerCommand({
    StreamARN: arn, ConsumerName: "js-consumer",
  }));
  const consumerARN = reg.Consumer.ConsumerARN;
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumerARN }));
    if (d.ConsumerDescription.ConsumerStatus === "ACTIVE") break;
    await sleep(100);
  }
  await put(0);
  // Leaving the loop does not end the HTTP/2 stream: aborting does (RST_STREAM).
  const abort = new AbortController();
  const sub = await client.send(new SubscribeToShardCommand({
    ConsumerARN: consumerARN, ShardId: "shardId-000000000000",
    StartingPosition: { Type: "TRIM_HORIZON" },
  }), { abortSignal: abort.signal });
  console.log(JSON.stringify({ subscribed: true }));
  const putting = (async () => {
    await sleep(pauseMs);
    for (let i = 1; i < want; i++) await put(i);
  })();
  const records = [];
  let continuation = null;
  let events = 0;
  for await (const ev of sub.EventStream) {
    if (!ev.SubscribeToShardEvent) continue;
    events++;
    for (const r of ev.SubscribeToShardEvent.Records) {
      records.push({ data: new TextDecoder().decode(r.Data), sequenceNumber: r.SequenceNumber });
    }
    continuation = ev.SubscribeToShardEvent.ContinuationSequenceNumber;
    if (records.length >= want) break;
  }
  abort.abort();
  if (records.length >= want) await putting; /* else the stream ended first */
  console.log(JSON.stringify({
    handler: client.config.requestHandler.constructor.name,
    events, records, continuation,
    sessions: shared ? client.config.requestHandler.connectionManager.debug() : null,
  }));
} finally {
  client.destroy();
}
process.exit(0); // puts still paused when the stream ended early
