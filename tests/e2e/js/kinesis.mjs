// Kinesis with @aws-sdk/client-kinesis on its defaults (HTTP/2: NodeHttp2Handler), as a
// new user would call it. Endpoint from SLUICE_ENDPOINT, credentials and region from the
// usual AWS_* variables; prints one JSON object for tests/e2e/test_js_sdk.py.
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand,
  GetShardIteratorCommand, GetRecordsCommand,
} from "@aws-sdk/client-kinesis";

const client = new KinesisClient({ endpoint: process.env.SLUICE_ENDPOINT });
const name = process.argv[2];
try {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const put = await client.send(new PutRecordCommand({
    StreamName: name, PartitionKey: "pk", Data: new TextEncoder().encode("hello from js"),
  }));
  const it = await client.send(new GetShardIteratorCommand({
    StreamName: name, ShardId: put.ShardId, ShardIteratorType: "TRIM_HORIZON",
  }));
  const got = await client.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
  console.log(JSON.stringify({
    handler: client.config.requestHandler.constructor.name,
    shardId: put.ShardId,
    sequenceNumber: put.SequenceNumber,
    records: got.Records.map((r) => ({
      data: new TextDecoder().decode(r.Data), sequenceNumber: r.SequenceNumber,
    })),
  }));
} finally {
  client.destroy();
}
