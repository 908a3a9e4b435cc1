// Sluice's console: a read-only view of streams, delivery streams, Athena queries and
// alarms, drawn from the same APIs the SDKs call, signed with SigV4 in the page (WebCrypto)
// with the access key given at sign-in. No library, no CDN.
//
// The API part (sluiceApi) needs only fetch and crypto.subtle, so it also runs outside a
// browser; the page part runs when there is a document.
'use strict';

const SHARD_RECORDS_PER_S = 1000;
const SHARD_BYTES_PER_S = 1024 * 1024;
const SHARD_READ_BYTES_PER_S = 2 * 1024 * 1024; // shared by a shard's GetRecords readers
// The error-output types Firehose writes under its error prefix.
const ERROR_TYPES = ['processing-failed', 'format-conversion-failed', 'decompression-failed',
  'metadata-extraction-failed', 'partitioning-failed', 'activePartitionExceeded'];
const LIST_KEYS_MAX = 10000; // keys listed per bucket or prefix, at most
const LIST_EVERY_MS = 60000; // S3 listings are made again after this long

// AWS's public list prices (us-east-1, USD) that the cost table applies.
const PRICE = {
  shardHour: 0.015, // provisioned stream, per shard-hour
  putUnitsPerMillion: 0.014, // PUT payload units: a record's each 25 KB is one
  onDemandStreamHour: 0.04, // on-demand stream, per stream-hour
  onDemandWrittenGB: 0.08, // on-demand, per GB written
  firehoseGB: 0.029, // Direct PUT ingestion, each record rounded up to 5 KB
  athenaTB: 5, // per TB scanned, at least 10 MB a query
};
const ATHENA_USD_PER_TB = PRICE.athenaTB;

// The last hour's cost at list prices, by line, from a snapshot's figures. Record sizes
// are known only on average (IncomingBytes / IncomingRecords), so the per-record rounding
// (25 KB payload units, Firehose's 5 KB) is applied to the average record.
function costOfLastHour(snap) {
  const lines = [];
  for (const s of snap.streams) {
    if (s.mode === 'ON_DEMAND') {
      lines.push({ item: 'Kinesis ' + s.name + ': stream-hour (on-demand)',
        quantity: 1, usd: PRICE.onDemandStreamHour });
      const gb = s.bytes / 2 ** 30;
      lines.push({ item: 'Kinesis ' + s.name + ': GB written', quantity: gb,
        usd: gb * PRICE.onDemandWrittenGB });
    } else {
      lines.push({ item: 'Kinesis ' + s.name + ': shard-hours', quantity: s.shards,
        usd: s.shards * PRICE.shardHour });
      const units = s.records ? s.records * Math.ceil(s.bytes / s.records / 25600) : 0;
      lines.push({ item: 'Kinesis ' + s.name + ': PUT payload units', quantity: units,
        usd: (units / 1e6) * PRICE.putUnitsPerMillion });
    }
  }
  for (const d of snap.delivery) {
    const perRecord = d.records ? Math.ceil(d.bytes / d.records / 5120) * 5120 : 0;
    const gb = (d.records * perRecord) / 2 ** 30;
    lines.push({ item: 'Firehose ' + d.name + ': GB ingested (5 KB rounding)', quantity: gb,
      usd: gb * PRICE.firehoseGB });
  }
  const hourAgo = Date.now() / 1000 - 3600;
  const recent = snap.athena.filter((q) => q.submitted >= hourAgo);
  const scanned = recent.reduce((a, q) => a + Math.max(q.scanned, 10e6), 0);
  lines.push({ item: 'Athena: TB scanned (' + recent.length + ' queries)',
    quantity: scanned / 1e12, usd: (scanned / 1e12) * PRICE.athenaTB });
  return { lines, total: lines.reduce((a, l) => a + l.usd, 0) };
}

function sluiceApi(endpoint, region, accessKeyId, secretAccessKey) {
  const enc = new TextEncoder();
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (text) =>
    hex(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text))));
  const hmac = async (key, text) => {
    const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' },
      false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', k, enc.encode(text)));
  };
  const host = new URL(endpoint).host;

  // RFC 3986 encoding, as SigV4 wants it.
  const uriEncode = (v) => encodeURIComponent(v).replace(/[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

  // Signs a request (SigV4): headers gets x-amz-date and authorization; host is signed
  // but left for the client to set.
  async function sign(service, method, path, query, headers, body) {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    headers['x-amz-date'] = amzDate;
    headers.host = host;
    const names = Object.keys(headers).sort();
    const canonical = [method, path, query, names.map((h) => h + ':' + headers[h] + '\n').join(''),
      names.join(';'), headers['x-amz-content-sha256'] || await sha256(body)].join('\n');
    const scope = day + '/' + region + '/' + service + '/aws4_request';
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256(canonical)].join('\n');
    let key = await hmac(enc.encode('AWS4' + secretAccessKey), day);
    for (const part of [region, service, 'aws4_request']) {
      key = await hmac(key, part);
    }
    const signature = hex(await hmac(key, toSign));
    delete headers.host; // the client sets it, to the same value
    headers.authorization = 'AWS4-HMAC-SHA256 Credential=' + accessKeyId + '/' + scope +
      ', SignedHeaders=' + names.join(';') + ', Signature=' + signature;
    return headers;
  }

  // One JSON-protocol call: service is the signing name, target "Prefix.Operation".
  async function call(service, target, jsonVersion, input) {
    const body = JSON.stringify(input || {});
    const headers = await sign(service, 'POST', '/', '', {
      'content-type': 'application/x-amz-json-' + jsonVersion,
      'x-amz-target': target,
    }, body);
    const r = await fetch(endpoint + '/', { method: 'POST', headers, body });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error((out.__type || r.status) + ': ' + (out.message || out.Message || ''));
      err.status = r.status;
      throw err;
    }
    return out;
  }

  // An S3 GET (path style) of path with the query's parameters: the XML text.
  async function s3Get(path, params) {
    const query = Object.keys(params).sort().map((k) => uriEncode(k) + '=' + uriEncode(params[k]))
      .join('&');
    const headers = await sign('s3', 'GET', path, query, {
      'x-amz-content-sha256': await sha256(''),
    }, '');
    const r = await fetch(endpoint + path + (query ? '?' + query : ''), { headers });
    const text = await r.text();
    if (!r.ok) {
      const err = new Error('S3 ' + r.status + ': ' + ((/<Code>(.*?)<\/Code>/.exec(text) || [])[1]));
      err.status = r.status;
      throw err;
    }
    return text;
  }
  const xmlText = (v) => v.replace(/&(lt|gt|quot|apos|amp);/g, (m, e) =>
    ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]);
  const tags = (xml, tag) => Array.from(xml.matchAll(new RegExp('<' + tag + '>(.*?)</' + tag +
    '>', 'gs')), (m) => m[1]);

  async function listBuckets() {
    return tags(await s3Get('/', {}), 'Name').map(xmlText);
  }

  // The bucket's objects under prefix ({key, size}), LIST_KEYS_MAX at most; more: true
  // when there were more.
  async function listObjects(bucket, prefix) {
    const objects = [];
    let token = null;
    do {
      const params = { 'list-type': '2', prefix };
      if (token) {
        params['continuation-token'] = token;
      }
      const xml = await s3Get('/' + uriEncode(bucket), params);
      for (const c of tags(xml, 'Contents')) {
        objects.push({ key: xmlText(tags(c, 'Key')[0]), size: Number(tags(c, 'Size')[0]) });
      }
      token = /<IsTruncated>true</.test(xml) ? xmlText(tags(xml, 'NextContinuationToken')[0])
        : null;
    } while (token && objects.length < LIST_KEYS_MAX);
    return { objects, more: token !== null };
  }

  // Listings are the heavy part of a refresh: each is made at most once a minute.
  const listed = new Map();
  async function cached(key, fn) {
    const hit = listed.get(key);
    if (hit && Date.now() - hit.at < LIST_EVERY_MS) {
      return hit.value;
    }
    const value = await fn();
    listed.set(key, { at: Date.now(), value });
    return value;
  }

  const kinesis = (op, input) => call('kinesis', 'Kinesis_20131202.' + op, '1.1', input);
  const firehose = (op, input) => call('firehose', 'Firehose_20150804.' + op, '1.1', input);
  const athena = (op, input) => call('athena', 'AmazonAthena.' + op, '1.1', input);
  const cloudwatch = (op, input) =>
    call('monitoring', 'GraniteServiceVersion20100801.' + op, '1.0', input);

  // Sums per minute of each metric over the last hour: {id: {Timestamps, Values}}.
  async function lastHour(queries) {
    const end = Math.ceil(Date.now() / 60000) * 60 + 60;
    const out = {};
    for (let i = 0; i < queries.length; i += 100) {
      const r = await cloudwatch('GetMetricData', {
        StartTime: end - 3660, EndTime: end, ScanBy: 'TimestampAscending',
        MetricDataQueries: queries.slice(i, i + 100).map((q) => ({
          Id: q.id,
          MetricStat: {
            Metric: { Namespace: q.ns, MetricName: q.name, Dimensions: q.dims },
            Period: 60, Stat: q.stat || 'Sum',
          },
        })),
      });
      for (const res of r.MetricDataResults) {
        out[res.Id] = res;
      }
    }
    return out;
  }

  // Everything the page shows, in one object.
  async function snapshot() {
    const want = []; // the metrics to read, each with an id
    const ask = (ns, name, dims, stat) => {
      const id = 'm' + want.length;
      want.push({ id, ns, name, dims: Object.entries(dims).map(([Name, Value]) =>
        ({ Name, Value })), stat });
      return id;
    };
    const streams = await describeStreams(ask);
    const delivery = await describeDelivery(ask);
    const series = want.length ? await lastHour(want) : {};
    const values = (id) => (series[id] || {}).Values || [];
    const sum = (id) => values(id).reduce((a, b) => a + b, 0);
    const peak = (id) => Math.max(0, ...values(id));
    const last = (id) => (values(id).length ? values(id)[values(id).length - 1] : null);
    const points = (id) => ((series[id] || {}).Timestamps || []).map((t, k) =>
      [typeof t === 'number' ? t : Date.parse(t) / 1000, values(id)[k]]);

    const shards = [];
    const consumers = [];
    for (const s of streams) {
      s.recordsPerMinute = values(s.m.r);
      s.points = points(s.m.r);
      s.records = sum(s.m.r);
      s.bytes = sum(s.m.b);
      s.throttled = sum(s.m.t);
      // the busiest minute against what the shards take
      s.load = s.shards ? Math.max(peak(s.m.r) / 60 / (s.shards * SHARD_RECORDS_PER_S),
        peak(s.m.b) / 60 / (s.shards * SHARD_BYTES_PER_S)) : 0;
      // per shard (enhanced monitoring's metrics): the hot one stands out
      const rows = s.shardIds.map((id) => {
        const m = s.m.shard[id];
        const x = { stream: s.name, shard: id, monitored: s.monitored,
          records: sum(m.r), writeRecordsPerS: peak(m.r) / 60, writeBytesPerS: peak(m.b) / 60,
          readBytesPerS: peak(m.o) / 60, throttled: sum(m.t) };
        x.writeLoad = Math.max(x.writeRecordsPerS / SHARD_RECORDS_PER_S,
          x.writeBytesPerS / SHARD_BYTES_PER_S);
        x.readLoad = x.readBytesPerS / SHARD_READ_BYTES_PER_S;
        return x;
      });
      const total = rows.reduce((a, x) => a + x.records, 0);
      for (const x of rows) {
        // past 80 % of a limit, throttled, or taking 1.5 times its fair share of the writes
        x.hot = x.writeLoad >= 0.8 || x.readLoad >= 0.8 || x.throttled > 0 ||
          (rows.length > 1 && x.records > (1.5 * total) / rows.length);
        shards.push(x);
      }
      // iterator age per consumer: each EFO consumer, and the GetRecords readers together
      for (const [name, m] of Object.entries(s.m.consumers)) {
        consumers.push({ stream: s.name, consumer: name, kind: 'EFO', age: last(m.age),
          maxAge: values(m.age).length ? peak(m.age) : null, records: sum(m.records) });
      }
      if (values(s.m.getAge).length) {
        consumers.push({ stream: s.name, consumer: '(GetRecords readers)', kind: 'GetRecords',
          age: last(s.m.getAge), maxAge: peak(s.m.getAge), records: sum(s.m.getRecords) });
      }
      delete s.m;
      delete s.shardIds;
    }
    for (const d of delivery) {
      d.points = points(d.m.records);
      d.records = sum(d.m.records);
      d.bytes = sum(d.m.bytes);
      d.objects = sum(d.m.objects);
      d.freshness = last(d.m.freshness);
      // the buffer at the last sample, against the size that sends it (SizeInMBs)
      d.buffered = last(d.m.buffered) || 0;
      d.bufferFill = d.bufferMB ? d.buffered / (d.bufferMB * 2 ** 20) : 0;
      delete d.m;
    }
    const { queries: athenaQueries, workgroups } = await athenaFigures();
    const found = await cloudwatch('DescribeAlarms', { MaxRecords: 100,
      AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] });
    const alarms = (found.MetricAlarms || []).concat(found.CompositeAlarms || []);
    const snap = { streams, shards, consumers, delivery, lake: await cached('lake', lakeFigures),
      athena: athenaQueries, workgroups,
      alarms: alarms.map((a) => ({ name: a.AlarmName, state: a.StateValue,
        reason: a.StateReason })) };
    snap.cost = (await serverCost()) || costOfLastHour(snap);
    return snap;
  }

  // Streams with their open shards and consumers, and the metrics each needs (ids in m).
  async function describeStreams(ask) {
    const names = (await kinesis('ListStreams', { Limit: 100 })).StreamNames || [];
    const streams = [];
    for (const name of names) {
      const d = (await kinesis('DescribeStreamSummary', { StreamName: name }))
        .StreamDescriptionSummary;
      const shards = (await kinesis('ListShards', { StreamName: name, MaxResults: 1000 }))
        .Shards || [];
      const efo = (await kinesis('ListStreamConsumers', { StreamARN: d.StreamARN }))
        .Consumers || [];
      const dims = { StreamName: name };
      const m = { r: ask('AWS/Kinesis', 'IncomingRecords', dims),
        b: ask('AWS/Kinesis', 'IncomingBytes', dims),
        t: ask('AWS/Kinesis', 'WriteProvisionedThroughputExceeded', dims),
        getAge: ask('AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', dims, 'Maximum'),
        getRecords: ask('AWS/Kinesis', 'GetRecords.Records', dims), shard: {}, consumers: {} };
      const open = shards.filter((x) => !x.SequenceNumberRange.EndingSequenceNumber)
        .map((x) => x.ShardId);
      for (const id of open) {
        const sd = { StreamName: name, ShardId: id };
        m.shard[id] = { r: ask('AWS/Kinesis', 'IncomingRecords', sd),
          b: ask('AWS/Kinesis', 'IncomingBytes', sd), o: ask('AWS/Kinesis', 'OutgoingBytes', sd),
          t: ask('AWS/Kinesis', 'WriteProvisionedThroughputExceeded', sd) };
      }
      for (const c of efo) {
        const cd = { StreamName: name, ConsumerName: c.ConsumerName };
        m.consumers[c.ConsumerName] = {
          age: ask('AWS/Kinesis', 'SubscribeToShardEvent.MillisBehindLatest', cd, 'Maximum'),
          records: ask('AWS/Kinesis', 'SubscribeToShardEvent.Records', cd) };
      }
      const monitoring = (d.EnhancedMonitoring || []).flatMap((e) => e.ShardLevelMetrics || []);
      streams.push({ name, status: d.StreamStatus, shards: d.OpenShardCount,
        mode: (d.StreamModeDetails || {}).StreamMode || 'PROVISIONED', shardIds: open,
        monitored: monitoring.length > 0, m });
    }
    return streams;
  }

  // Delivery streams with their buffering and their error objects by error type.
  async function describeDelivery(ask) {
    const names = (await firehose('ListDeliveryStreams', { Limit: 100 })).DeliveryStreamNames ||
      [];
    const out = [];
    for (const name of names) {
      const d = (await firehose('DescribeDeliveryStream', { DeliveryStreamName: name }))
        .DeliveryStreamDescription;
      const s3 = ((d.Destinations || [])[0] || {}).ExtendedS3DestinationDescription || {};
      const hints = s3.BufferingHints || {};
      const dims = { DeliveryStreamName: name };
      // a bucket that cannot be listed (gone, or not this key's to list) spoils no more
      // than its own cell
      const errors = s3.BucketARN
        ? await cached('errors ' + name, () => errorObjects(s3)).catch((e) => e)
        : {};
      out.push({ name, status: d.DeliveryStreamStatus, bufferMB: hints.SizeInMBs,
        bufferSeconds: hints.IntervalInSeconds, errors,
        m: { records: ask('AWS/Firehose', 'IncomingRecords', dims),
          bytes: ask('AWS/Firehose', 'IncomingBytes', dims),
          objects: ask('AWS/Firehose', 'DeliveryToS3.ObjectCount', dims),
          freshness: ask('AWS/Firehose', 'DeliveryToS3.DataFreshness', dims, 'Maximum'),
          buffered: ask('Sluice/Firehose', 'BufferedBytes', dims, 'Maximum') } });
    }
    return out;
  }

  // Objects under the error prefix (or, without one, under the prefix, where Firehose puts
  // <type>/...), counted by the error type in their key.
  async function errorObjects(s3) {
    const bucket = s3.BucketARN.split(':').pop();
    const prefix = (s3.ErrorOutputPrefix || s3.Prefix || '').split('!{')[0];
    const counts = {};
    for (const o of (await listObjects(bucket, prefix)).objects) {
      const rest = o.key.slice(prefix.length);
      const type = ERROR_TYPES.find((t) => rest.includes(t));
      if (type && (s3.ErrorOutputPrefix || rest.startsWith(type + '/'))) {
        counts[type] = (counts[type] || 0) + 1;
      }
    }
    return counts;
  }

  // The lake: each bucket's objects and bytes per top-level prefix.
  async function lakeFigures() {
    const rows = [];
    const buckets = await listBuckets().catch((e) => e);
    if (buckets instanceof Error) { // a key without s3:ListAllMyBuckets still sees the rest
      return [{ bucket: '–', prefix: buckets.message, objects: null, bytes: null }];
    }
    for (const bucket of buckets.slice(0, 50)) {
      const got = await listObjects(bucket, '').catch((e) => e);
      if (got instanceof Error) {
        rows.push({ bucket, prefix: got.message, objects: null, bytes: null });
        continue;
      }
      const { objects, more } = got;
      const by = new Map();
      for (const o of objects) {
        const cut = o.key.indexOf('/');
        const prefix = cut < 0 ? '' : o.key.slice(0, cut + 1);
        const p = by.get(prefix) || { bucket, prefix, objects: 0, bytes: 0, more };
        p.objects++;
        p.bytes += o.size;
        by.set(prefix, p);
      }
      rows.push(...(by.size ? [...by.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : 1))
        : [{ bucket, prefix: '', objects: 0, bytes: 0, more }]));
    }
    return rows;
  }

  // The last 50 queries of each workgroup (ListQueryExecutions lists one workgroup's),
  // priced at the list price: 10 MB at least a query; failed queries and DDL cost nothing.
  async function athenaFigures() {
    const groups = ((await athena('ListWorkGroups', { MaxResults: 50 })).WorkGroups || [])
      .map((w) => w.Name);
    const queries = [];
    for (const wg of groups) {
      const ids = (await athena('ListQueryExecutions', { WorkGroup: wg, MaxResults: 50 }))
        .QueryExecutionIds || [];
      if (ids.length) {
        const got = await athena('BatchGetQueryExecution', { QueryExecutionIds: ids });
        queries.push(...(got.QueryExecutions || []).map((q) => {
          const scanned = (q.Statistics || {}).DataScannedInBytes || 0;
          const charged = q.Status.State !== 'FAILED' && q.StatementType !== 'DDL';
          return { id: q.QueryExecutionId, state: q.Status.State, workgroup: q.WorkGroup,
            scanned, usd: charged ? Math.max(scanned, 10e6) / 1e12 * ATHENA_USD_PER_TB : 0,
            submitted: q.Status.SubmissionDateTime, query: q.Query };
        }));
      }
    }
    queries.sort((a, b) => b.submitted - a.submitted);
    const workgroups = groups.map((name) => {
      const mine = queries.filter((q) => q.workgroup === name);
      const count = (state) => mine.filter((q) => q.state === state).length;
      return { name, queries: mine.length, succeeded: count('SUCCEEDED'),
        failed: count('FAILED'), scanned: mine.reduce((a, q) => a + q.scanned, 0),
        usd: mine.reduce((a, q) => a + q.usd, 0) };
    });
    return { queries: queries.slice(0, 50), workgroups };
  }

  // The server's own figure (GET /_sluice/cost), when its metrics endpoint is open; else
  // (off, or behind a token the page does not hold) the page computes it.
  async function serverCost() {
    try {
      const r = await fetch(endpoint + '/_sluice/cost?hours=1');
      if (!r.ok || !(r.headers.get('Content-Type') || '').startsWith('application/json')) {
        return null;
      }
      const d = await r.json();
      return { source: 'server', total: d.Total, lines: d.LineItems.map((l) => ({
        item: l.Service + (l.Resource ? ' ' + l.Resource : '') + ': ' + l.Item,
        quantity: l.Quantity, usd: l.USD })) };
    } catch (e) {
      return null;
    }
  }

  return { call, kinesis, firehose, athena, cloudwatch, snapshot };
}

// ---- the page ----

function startConsole() {
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) =>
    ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const num = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));
  let api = null;
  let timer = null;

  function table(el, head, rows) {
    el.innerHTML = '<tr>' + head.map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
      (rows.length ? rows.join('') : '<tr><td colspan="' + head.length + '">none</td></tr>');
  }

  function spark(values) {
    const w = 120, h = 24, max = Math.max(1, ...values);
    const pts = values.map((v, i) => (values.length < 2 ? 0 : (i * w) / (values.length - 1))
      .toFixed(1) + ',' + (h - (v / max) * h).toFixed(1)).join(' ');
    return '<svg width="' + w + '" height="' + h + '"><polyline fill="none" stroke="#2a6" ' +
      'points="' + pts + '"/></svg>';
  }

  // The last hour of per-minute figures, one line per series ({label, points: [[t, v]]}),
  // on a time axis ending now.
  const COLORS = ['#2a6', '#36c', '#c63', '#939', '#c93', '#399'];
  function chart(el, series, unit) {
    const w = 640, h = 150, left = 60, bottom = 20, end = Date.now() / 1000, start = end - 3600;
    const max = Math.max(1, ...series.flatMap((x) => x.points.map((p) => p[1])));
    const x = (t) => (left + ((t - start) / 3600) * (w - left)).toFixed(1);
    const y = (v) => (h - bottom - (v / max) * (h - bottom - 5)).toFixed(1);
    // a line through the minutes, and a dot on each (a lone minute shows too)
    const lines = series.map((x0, i) => '<polyline fill="none" stroke="' + COLORS[i % 6] +
      '" data-series="' + esc(x0.label) + '" points="' + x0.points.map((p) => x(p[0]) + ',' +
      y(p[1])).join(' ') + '"/>' + x0.points.map((p) => '<circle r="2" fill="' +
      COLORS[i % 6] + '" cx="' + x(p[0]) + '" cy="' + y(p[1]) + '"/>').join('')).join('');
    el.innerHTML = '<svg width="' + w + '" height="' + h + '">' +
      '<line x1="' + left + '" y1="' + (h - bottom) + '" x2="' + w + '" y2="' + (h - bottom) +
      '" stroke="#999"/><text x="0" y="12">' + num(max) + ' ' + esc(unit) + '</text>' +
      '<text x="' + left + '" y="' + h + '">−60 min</text><text x="' + (w - 30) + '" y="' + h +
      '">now</text>' + lines + '</svg><div>' + series.map((x0, i) => '<span style="color:' +
      COLORS[i % 6] + '">■</span> ' + esc(x0.label)).join(' &nbsp; ') + '</div>';
  }
  const pct = (v) => (v * 100).toFixed(1) + ' %';
  const rate = (v) => num(Math.round(v * 10) / 10);

  async function refresh() {
    try {
      const s = await api.snapshot();
      table($('streams'), ['Stream', 'Status', 'Shards', 'Records (1 h)', 'Bytes (1 h)',
        'Throttled', 'Peak load', 'Records/min'], s.streams.map((x) =>
        '<tr class="' + (x.load > 0.8 || x.throttled > 0 ? 'hot' : '') + '" data-stream="' +
        esc(x.name) + '"><td>' + esc(x.name) + '</td><td>' + esc(x.status) + '</td><td>' +
        x.shards + '</td><td class="n records">' + num(x.records) + '</td><td class="n">' +
        num(x.bytes) + '</td><td class="n">' + num(x.throttled) + '</td><td class="n">' +
        (x.load * 100).toFixed(1) + ' %</td><td>' + spark(x.recordsPerMinute) + '</td></tr>'));
      chart($('streams-chart'), s.streams.map((x) => ({ label: x.name, points: x.points })),
        'records/min');
      table($('shards'), ['Stream', 'Shard', 'Write records/s', 'Write bytes/s', 'Write load',
        'Read bytes/s', 'Read load', 'Throttled'], s.shards.map((x) => !x.monitored
        ? '<tr data-shard="' + esc(x.shard) + '"><td>' + esc(x.stream) + '</td><td>' +
          esc(x.shard) + '</td><td colspan="6">enhanced monitoring off</td></tr>'
        : '<tr class="' + (x.hot ? 'hot' : '') + '" data-shard="' + esc(x.shard) + '"><td>' +
          esc(x.stream) + '</td><td>' + esc(x.shard) + '</td><td class="n">' +
          rate(x.writeRecordsPerS) + '</td><td class="n">' + rate(x.writeBytesPerS) +
          '</td><td class="n">' + pct(x.writeLoad) + '</td><td class="n">' +
          rate(x.readBytesPerS) + '</td><td class="n">' + pct(x.readLoad) +
          '</td><td class="n">' + num(x.throttled) + '</td></tr>'));
      table($('consumers'), ['Stream', 'Consumer', 'Kind', 'Iterator age (ms)',
        'Max age (1 h)', 'Records read (1 h)'], s.consumers.map((x) => '<tr><td>' +
        esc(x.stream) + '</td><td>' + esc(x.consumer) + '</td><td>' + x.kind +
        '</td><td class="n">' + num(x.age) + '</td><td class="n">' + num(x.maxAge) +
        '</td><td class="n">' + num(x.records) + '</td></tr>'));
      chart($('delivery-chart'), s.delivery.map((x) => ({ label: x.name, points: x.points })),
        'records/min');
      table($('delivery'), ['Delivery stream', 'Records (1 h)', 'Objects (1 h)',
        'Freshness (s)', 'Buffer (fill, interval)', 'Error objects'], s.delivery.map((x) =>
        '<tr data-delivery="' + esc(x.name) + '"><td>' + esc(x.name) + '</td><td class="n">' +
        num(x.records) + '</td><td class="n">' + num(x.objects) + '</td><td class="n">' +
        num(x.freshness) + '</td><td class="n">' + num(x.buffered) + ' B of ' +
        num(x.bufferMB) + ' MB (' + pct(x.bufferFill) + '), ' + num(x.bufferSeconds) +
        ' s</td><td>' + (x.errors instanceof Error ? esc(x.errors.message)
          : Object.entries(x.errors).map(([t, n]) => esc(t) + ': ' + n).join(', ') || 'none') +
        '</td></tr>'));
      table($('lake'), ['Bucket', 'Prefix', 'Objects', 'Bytes'], s.lake.map((x) =>
        '<tr><td>' + esc(x.bucket) + '</td><td>' + esc(x.prefix || '(top level)') +
        '</td><td class="n">' + num(x.objects) + (x.more ? '+' : '') + '</td><td class="n">' +
        num(x.bytes) + '</td></tr>'));
      table($('workgroups'), ['Workgroup', 'Queries', 'Succeeded', 'Failed', 'Scanned bytes',
        'Cost (USD)'], s.workgroups.map((x) => '<tr><td>' + esc(x.name) +
        '</td><td class="n">' + x.queries + '</td><td class="n">' + x.succeeded +
        '</td><td class="n">' + x.failed + '</td><td class="n">' + num(x.scanned) +
        '</td><td class="n">' + x.usd.toFixed(6) + '</td></tr>'));
      table($('athena'), ['Query', 'State', 'Workgroup', 'Scanned bytes', 'Cost (USD)'],
        s.athena.map((x) => '<tr><td title="' + esc(x.query) + '">' + esc(x.id.slice(0, 8)) +
        '</td><td>' + esc(x.state) + '</td><td>' + esc(x.workgroup) + '</td><td class="n">' +
        num(x.scanned) + '</td><td class="n">' + x.usd.toFixed(6) + '</td></tr>'));
      table($('cost'), ['Item', 'Quantity', 'USD'], s.cost.lines.map((l) => '<tr><td>' +
        esc(l.item) + '</td><td class="n">' + num(Number(l.quantity.toPrecision(6))) +
        '</td><td class="n">' + l.usd.toFixed(6) + '</td></tr>').concat(['<tr><th>Total' +
        '</th><td></td><th class="n">' + s.cost.total.toFixed(6) + '</th></tr>']));
      table($('alarms'), ['Alarm', 'State', 'Reason'], s.alarms.map((x) =>
        '<tr class="' + (x.state === 'ALARM' ? 'hot' : '') + '"><td>' + esc(x.name) +
        '</td><td>' + esc(x.state) + '</td><td>' + esc(x.reason) + '</td></tr>'));
      $('status').textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      $('status').textContent = 'Error: ' + e.message;
      if (e.status === 400 || e.status === 403) {
        signOut();
      }
    }
  }

  function signIn(akid, secret) {
    api = sluiceApi(location.origin, document.body.dataset.region, akid, secret);
    sessionStorage.setItem('sluice', JSON.stringify([akid, secret]));
    $('signin').hidden = true;
    $('main').hidden = false;
    refresh();
    timer = setInterval(refresh, 15000);
  }

  function signOut() {
    sessionStorage.removeItem('sluice');
    clearInterval(timer);
    $('signin').hidden = false;
    $('main').hidden = true;
  }

  $('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('akid').value.trim(), $('secret').value);
  });
  $('signout').addEventListener('click', signOut);
  // For automation (a headless browser): /console#ak=…&sk=… signs in. A fragment is never
  // sent to the server, so the key stays out of its logs; it is taken off the address at
  // once so it stays out of the history too.
  // Not URLSearchParams: it reads '+' as a space, and secret keys hold '+'.
  const given = new Map(location.hash.slice(1).split('&').map((kv) =>
    [kv.split('=')[0], decodeURIComponent(kv.slice(kv.indexOf('=') + 1))]));
  const saved = sessionStorage.getItem('sluice');
  if (given.get('ak') && given.get('sk')) {
    history.replaceState(null, '', location.pathname + location.search);
    signIn(given.get('ak'), given.get('sk'));
  } else if (saved) {
    signIn(...JSON.parse(saved));
  }
}

if (typeof document !== 'undefined') {
  document.addEventListener('DOMContentLoaded', startConsole);
} else if (typeof module !== 'undefined') {
  module.exports = { sluiceApi, costOfLastHour, PRICE, ERROR_TYPES };
}
