// The Glue Data Catalog with @aws-sdk/client-glue on its defaults. Prints one JSON object.
import { GlueClient, CreateDatabaseCommand, GetDatabaseCommand } from "@aws-sdk/client-glue";

const client = new GlueClient({ endpoint: process.env.SLUICE_ENDPOINT });
const name = process.argv[2];
try {
  await client.send(new CreateDatabaseCommand({
    DatabaseInput: { Name: name, Description: "from js" },
  }));
  const got = await client.send(new GetDatabaseCommand({ Name: name }));
  let missing = null;
  try {
    await client.send(new GetDatabaseCommand({ Name: name + "_none" }));
  } catch (e) {
    missing = { name: e.name, status: e.$metadata.httpStatusCode };
  }
  console.log(JSON.stringify({
    name: got.Database.Name, description: got.Database.Description, missing,
  }));
} finally {
  client.destroy();
}
