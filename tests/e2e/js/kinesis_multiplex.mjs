// Kinesis over one HTTP/2 connection carrying many concurrent streams: the same client
// with disableConcurrentStreams off (the SDK's default is one connection per call).
// Prints one JSON object: the results of N concurrent PutRecord calls.
import { KinesisClient, PutRecordCommand } from "@aws-sdk/client-kinesis";

const client = new KinesisClient({
  endpoint: process.env.SLUICE_ENDPOINT,
  requestHandler: { disableConcurrentStreams: false },
});
const [name, count] = [process.argv[2], Number(process.argv[3] ?? 20)];
try {
  const puts = await Promise.all(Array.from({ length: count }, (_, i) =>
    client.send(new PutRecordCommand({
      StreamName: name, PartitionKey: `pk${i}`, Data: new TextEncoder().encode(`r${i}`),
    }))));
  console.log(JSON.stringify({
    handler: client.config.requestHandler.constructor.name,
    sequenceNumbers: puts.map((p) => p.SequenceNumber),
    sessions: client.config.requestHandler.connectionManager.debug(),
  }));
} finally {
  client.destroy();
}
