// Reads Parquet files with hyparquet (a reader independent of DuckDB) and prints, for one
// file, {"schema": [...], "codec": ..., "version": ..., "row_groups": n, "dictionary":
// [column chunks with a dictionary page], "rows": [...]} as JSON (BigInt as a decimal string,
// Date as {"epoch_ms": ...}); for several files, a JSON array of those.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'

// hyparquet reads SNAPPY and UNCOMPRESSED itself; GZIP pages go through node's zlib.
const compressors = { GZIP: input => new Uint8Array(gunzipSync(input)) }

async function readOne (path) {
  const bytes = readFileSync(path)
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  const meta = parquetMetadata(file)
  const rows = await parquetReadObjects({ file, compressors })
  return {
    schema: meta.schema.map(e => ({
      name: e.name, type: e.type ?? null, logical: e.logical_type?.type ?? null,
      converted: e.converted_type ?? null, repetition: e.repetition_type ?? null,
    })),
    codec: meta.row_groups[0]?.columns[0]?.meta_data?.codec ?? null,
    version: meta.version,
    row_groups: meta.row_groups.length,
    dictionary: meta.row_groups.flatMap(g => g.columns)
      .filter(c => c.meta_data?.dictionary_page_offset !== undefined)
      .map(c => c.meta_data.path_in_schema.join('.')),
    rows,
  }
}

const paths = process.argv.slice(2)
const all = []
for (const p of paths) all.push(await readOne(p))
const out = paths.length === 1 ? all[0] : all
// A replacer sees a Date after its toJSON ran: look at the holder's own value.
process.stdout.write(JSON.stringify(out, function (k, v) {
  const raw = this[k]
  return typeof raw === 'bigint' ? raw.toString() : raw instanceof Date ? { epoch_ms: raw.getTime() } : v
}))
