// Reads a Parquet file with hyparquet (a reader independent of DuckDB) and prints
// {"schema": [...], "rows": [...]} as JSON: BigInt as a decimal string, Date as epoch ms.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'

const bytes = readFileSync(process.argv[2])
const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
const meta = parquetMetadata(file)
// hyparquet reads SNAPPY and UNCOMPRESSED itself; GZIP pages go through node's zlib.
const compressors = { GZIP: input => new Uint8Array(gunzipSync(input)) }
const rows = await parquetReadObjects({ file, compressors })
const out = {
  schema: meta.schema.map(e => ({
    name: e.name, type: e.type ?? null, logical: e.logical_type?.type ?? null,
    converted: e.converted_type ?? null, repetition: e.repetition_type ?? null,
  })),
  codec: meta.row_groups[0]?.columns[0]?.meta_data?.codec ?? null,
  rows,
}
// A replacer sees a Date after its toJSON ran: look at the holder's own value.
process.stdout.write(JSON.stringify(out, function (k, v) {
  const raw = this[k]
  return typeof raw === 'bigint' ? raw.toString() : raw instanceof Date ? { epoch_ms: raw.getTime() } : v
}))
