// S3 with @aws-sdk/client-s3 on its defaults but for path-style addressing (a bucket name
// cannot resolve as a subdomain of 127.0.0.1). Prints one JSON object.
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand,
} from "@aws-sdk/client-s3";

const client = new S3Client({ endpoint: process.env.SLUICE_ENDPOINT, forcePathStyle: true });
const bucket = process.argv[2];
try {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const put = await client.send(new PutObjectCommand({
    Bucket: bucket, Key: "dir/hello.txt", Body: "hello from js", ContentType: "text/plain",
  }));
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/hello.txt" }));
  console.log(JSON.stringify({
    etag: put.ETag,
    body: await got.Body.transformToString(),
    contentType: got.ContentType,
    getEtag: got.ETag,
  }));
} finally {
  client.destroy();
}
