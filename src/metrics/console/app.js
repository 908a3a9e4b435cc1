// Sluice's console: a read-only view of streams, delivery streams, Athena queries and
// alarms, drawn from the same APIs the SDKs call, signed with SigV4 in the page (WebCrypto)
// with the access key given at sign-in. No library, no CDN.
//
// The API part (sluiceApi) needs only fetch and crypto.subtle, so it also runs outside a
// browser; the page part runs when there is a document.
'use strict';

const SHARD_RECORDS_PER_S = 1000;
const SHARD_BYTES_PER_S = 1024 * 1024;

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

  // One JSON-protocol call: service is the signing name, target "Prefix.Operation".
  async function call(service, target, jsonVersion, input) {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const body = JSON.stringify(input || {});
    const headers = {
      'content-type': 'application/x-amz-json-' + jsonVersion,
      host,
      'x-amz-date': amzDate,
      'x-amz-target': target,
    };
    const names = Object.keys(headers).sort();
    const canonical = ['POST', '/', '', names.map((h) => h + ':' + headers[h] + '\n').join(''),
      names.join(';'), await sha256(body)].join('\n');
    const scope = day + '/' + region + '/' + service + '/aws4_request';
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256(canonical)].join('\n');
    let key = await hmac(enc.encode('AWS4' + secretAccessKey), day);
    for (const part of [region, service, 'aws4_request']) {
      key = await hmac(key, part);
    }
    const signature = hex(await hmac(key, toSign));
    const sent = { ...headers };
    delete sent.host; // the client sets it, to the same value
    sent.authorization = 'AWS4-HMAC-SHA256 Credential=' + accessKeyId + '/' + scope +
      ', SignedHeaders=' + names.join(';') + ', Signature=' + signature;
    const r = await fetch(endpoint + '/', { method: 'POST', headers: sent, body });
    const out = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error((out.__type || r.status) + ': ' + (out.message || out.Message || ''));
      err.status = r.status;
      throw err;
    }
    return out;
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
    const names = (await kinesis('ListStreams', { Limit: 100 })).StreamNames || [];
    const streams = [];
    for (const name of names) {
      const d = (await kinesis('DescribeStreamSummary', { StreamName: name }))
        .StreamDescriptionSummary;
      streams.push({ name, status: d.StreamStatus, shards: d.OpenShardCount,
        mode: (d.StreamModeDetails || {}).StreamMode || 'PROVISIONED' });
    }
    const fhNames = (await firehose('ListDeliveryStreams', { Limit: 100 })).DeliveryStreamNames ||
      [];
    const queries = [];
    streams.forEach((s, i) => {
      const dims = [{ Name: 'StreamName', Value: s.name }];
      queries.push({ id: 'r' + i, ns: 'AWS/Kinesis', name: 'IncomingRecords', dims },
        { id: 'b' + i, ns: 'AWS/Kinesis', name: 'IncomingBytes', dims },
        { id: 't' + i, ns: 'AWS/Kinesis', name: 'WriteProvisionedThroughputExceeded', dims });
    });
    fhNames.forEach((n, i) => {
      const dims = [{ Name: 'DeliveryStreamName', Value: n }];
      queries.push({ id: 'fi' + i, ns: 'AWS/Firehose', name: 'IncomingRecords', dims },
        { id: 'fb' + i, ns: 'AWS/Firehose', name: 'IncomingBytes', dims },
        { id: 'fo' + i, ns: 'AWS/Firehose', name: 'DeliveryToS3.ObjectCount', dims },
        { id: 'ff' + i, ns: 'AWS/Firehose', name: 'DeliveryToS3.DataFreshness', dims,
          stat: 'Maximum' });
    });
    const series = queries.length ? await lastHour(queries) : {};
    const sum = (id) => ((series[id] || {}).Values || []).reduce((a, b) => a + b, 0);
    const last = (id) => {
      const v = (series[id] || {}).Values || [];
      return v.length ? v[v.length - 1] : null;
    };
    streams.forEach((s, i) => {
      s.recordsPerMinute = (series['r' + i] || {}).Values || [];
      s.records = sum('r' + i);
      s.bytes = sum('b' + i);
      s.throttled = sum('t' + i);
      // the busiest minute against what the shards take
      const peak = Math.max(0, ...s.recordsPerMinute) / 60;
      const peakBytes = Math.max(0, ...((series['b' + i] || {}).Values || [])) / 60;
      s.load = s.shards ? Math.max(peak / (s.shards * SHARD_RECORDS_PER_S),
        peakBytes / (s.shards * SHARD_BYTES_PER_S)) : 0;
    });
    const delivery = fhNames.map((name, i) => ({
      name, records: sum('fi' + i), bytes: sum('fb' + i), objects: sum('fo' + i),
      freshness: last('ff' + i),
    }));
    const ids = ((await athena('ListQueryExecutions', { MaxResults: 50 })).QueryExecutionIds ||
      []).slice(0, 50);
    const athenaQueries = ids.length
      ? ((await athena('BatchGetQueryExecution', { QueryExecutionIds: ids })).QueryExecutions ||
        []).map((q) => {
        const scanned = (q.Statistics || {}).DataScannedInBytes || 0;
        return { id: q.QueryExecutionId, state: q.Status.State, workgroup: q.WorkGroup,
          scanned, usd: Math.max(scanned, 10e6) / 1e12 * ATHENA_USD_PER_TB,
          submitted: q.Status.SubmissionDateTime, query: q.Query };
      })
      : [];
    const found = await cloudwatch('DescribeAlarms', { MaxRecords: 100,
      AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] });
    const alarms = (found.MetricAlarms || []).concat(found.CompositeAlarms || []);
    const snap = { streams, delivery, athena: athenaQueries,
      alarms: alarms.map((a) => ({ name: a.AlarmName, state: a.StateValue,
        reason: a.StateReason })) };
    snap.cost = (await serverCost()) || costOfLastHour(snap);
    return snap;
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
      table($('delivery'), ['Delivery stream', 'Records (1 h)', 'Objects (1 h)',
        'Freshness (s)'], s.delivery.map((x) => '<tr><td>' + esc(x.name) +
        '</td><td class="n">' + num(x.records) + '</td><td class="n">' + num(x.objects) +
        '</td><td class="n">' + num(x.freshness) + '</td></tr>'));
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
  const given = new URLSearchParams(location.hash.slice(1));
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
  module.exports = { sluiceApi, costOfLastHour, PRICE };
}
