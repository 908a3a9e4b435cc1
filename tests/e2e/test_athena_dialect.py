"""Athena's (Trino's) SQL dialect, end to end through Sluice's AmazonAthena API with boto3.

One table: an Athena SQL expression (or a whole query), the exact VarCharValue Athena
returns for it in GetQueryResults (None: NULL, no VarCharValue), and, where it matters,
the column's ColumnInfo type. Expected values follow Trino's documentation (Athena engine
3 is Trino): docs/src/main/sphinx/functions/*.md in trinodb/trino, cited below as
[datetime], [string], [regexp], [json], [array], [map], [math], [conditional],
[aggregate], [conversion]. Rows whose expected value is ERROR must fail with the message
fragment given.
"""
import re
import uuid

import pytest

from test_athena import rows_of, run

ERROR = object()
ANY_TS_TZ = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$")

CASES = [
    # ---- MySQL-style date_format [datetime "MySQL date functions"] ----
    ("date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')", "10-20-2022 05", "varchar"),
    ("date_format(TIMESTAMP '2026-05-19 13:04:05.123', '%Y-%m-%d %H:%i:%s')",
     "2026-05-19 13:04:05", None),
    # %f prints 6 digits of a value truncated to milliseconds
    ("date_format(TIMESTAMP '2026-05-19 13:04:05.123', '%f')", "123000", None),
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%M %W %a %b')", "May Saturday Sat May", None),
    # %e day, %c month, %k and %l hours: no padding
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%e/%c %k %l')", "9/5 7 7", None),
    ("date_format(TIMESTAMP '2026-05-09 19:04:05', '%h %I %p')", "07 07 PM", None),
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%r|%T')", "07:04:05 AM|07:04:05", None),
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%j %y %S')", "129 26 05", None),
    # %v/%x: week and year of the week, Monday first (ISO)
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%x-%v')", "2026-19", None),
    # %% is a percent sign; %x for an unlisted x is x
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '100%% %Q')", "100% Q", None),
    ("date_format(DATE '2026-05-09', '%Y/%m/%d')", "2026/05/09", None),
    # "The following specifiers are not currently supported: %D %U %u %V %w %X"
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%D')", ERROR,
     "%D not supported in date format string"),
    ("date_format(TIMESTAMP '2026-05-09 07:04:05', '%w')", ERROR,
     "%w not supported in date format string"),
    # ---- date_parse -> timestamp(3) [datetime] ----
    ("date_parse('2022/10/20/05', '%Y/%m/%d/%H')", "2022-10-20 05:00:00.000", "timestamp"),
    ("date_parse('20/10/2022 05:07:09 PM', '%d/%m/%Y %h:%i:%s %p')", "2022-10-20 17:07:09.000",
     None),
    ("date_parse('2026-05-19 12:00:00.123', '%Y-%m-%d %H:%i:%s.%f')", "2026-05-19 12:00:00.123",
     None),
    ("date_parse('May 9 2026', '%b %e %Y')", "2026-05-09 00:00:00.000", None),
    ("date_parse('not a date', '%Y-%m-%d')", ERROR, "not a date"),
    # ---- unix time [datetime]: from_unixtime -> timestamp(3) with time zone ----
    ("from_unixtime(0)", "1970-01-01 00:00:00.000 UTC", "timestamp with time zone"),
    ("from_unixtime(1779192000.5)", "2026-05-19 12:00:00.500 UTC", None),
    # to_unixtime -> double, printed as Java prints a double
    ("to_unixtime(TIMESTAMP '2026-05-19 12:00:00')", "1.779192E9", "double"),
    ("to_unixtime(from_unixtime(1.5))", "1.5", "double"),
    # ---- interval functions [datetime "Interval functions"] ----
    ("date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01 00:01:26.000",
     "timestamp"),
    ("date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01 09:00:00.000", None),
    ("date_add('month', 1, TIMESTAMP '2012-10-31 01:00:00')", "2012-11-30 01:00:00.000", None),
    ("date_add('quarter', -1, TIMESTAMP '2020-05-15 00:00:00')", "2020-02-15 00:00:00.000", None),
    ("date_add('day', -1, DATE '2020-03-01')", "2020-02-29", "date"),
    ("date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')",
     "86400", "bigint"),
    ("date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", "1", "bigint"),
    # whole units elapsed, not calendar boundaries crossed
    ("date_diff('day', TIMESTAMP '2020-03-01 23:00:00', TIMESTAMP '2020-03-02 01:00:00')", "0",
     None),
    ("date_diff('hour', TIMESTAMP '2020-03-01 00:59:00', TIMESTAMP '2020-03-01 02:00:00')", "1",
     None),
    # ---- date_trunc [datetime "Truncation function"], week starts Monday ----
    ("date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-20 00:00:00.000",
     "timestamp"),
    ("date_trunc('month', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-01 00:00:00.000", None),
    ("date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 03:04:05.000", None),
    ("date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-07-01 00:00:00.000",
     None),
    ("date_trunc('year', TIMESTAMP '2022-10-20 05:10:00')", "2022-01-01 00:00:00.000", None),
    ("date_trunc('millisecond', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 03:04:05.321",
     None),
    # the same type as its input: a date stays a date
    ("date_trunc('month', DATE '2001-08-22')", "2001-08-01", "date"),
    ("date_trunc('hour', from_iso8601_timestamp('2001-08-22T03:04:05.321Z'))",
     "2001-08-22 03:00:00.000 UTC", "timestamp with time zone"),
    # ---- Joda patterns [datetime "Java date functions"] ----
    ("parse_datetime('2020-05-11 11:15', 'yyyy-MM-dd HH:mm')", "2020-05-11 11:15:00.000 UTC",
     "timestamp with time zone"),
    ("parse_datetime('11/May/2020:11:15:05', 'dd/MMM/yyyy:HH:mm:ss')",
     "2020-05-11 11:15:05.000 UTC", None),
    ("format_datetime(TIMESTAMP '2020-05-11 11:15:05.123', 'yyyy-MM-dd''T''HH:mm:ss.SSS')",
     "2020-05-11T11:15:05.123", "varchar"),
    ("format_datetime(TIMESTAMP '2020-05-01 09:05:00', 'EEEE, MMMM d, h:mm a')",
     "Friday, May 1, 9:05 AM", None),
    ("format_datetime(TIMESTAMP '2020-05-01 09:05:00', 'EEE dd MMM yy')", "Fri 01 May 20", None),
    ("format_datetime(from_unixtime(0), 'yyyy z')", "1970 UTC", None),
    ("format_datetime(TIMESTAMP '2020-05-01 09:05:00', 'yyyy qq')", ERROR,
     "Illegal pattern component: q"),
    # ---- current time: timestamp(3) with time zone [datetime] ----
    ("current_timestamp", ANY_TS_TZ, "timestamp with time zone"),
    ("now()", ANY_TS_TZ, "timestamp with time zone"),
    ("typeof(current_timestamp)", "timestamp(3) with time zone", None),
    ("typeof(now())", "timestamp(3) with time zone", None),
    ("typeof(current_date)", "date", None),
    ("typeof(localtimestamp)", "timestamp(3)", None),
    # ---- literals, timestamp(3) as Athena prints it, intervals, zones ----
    ("TIMESTAMP '2026-05-19 12:00:00'", "2026-05-19 12:00:00.000", "timestamp"),
    ("DATE '2026-05-19'", "2026-05-19", "date"),
    # a zone after the time makes a timestamp with time zone [datetime "Time zone conversion"]
    ("TIMESTAMP '2012-10-31 01:00 UTC'", "2012-10-31 01:00:00.000 UTC",
     "timestamp with time zone"),
    ("to_unixtime(TIMESTAMP '1970-01-01 01:00:00 +01:00')", "0.0", "double"),
    ("TIMESTAMP '2012-08-08 01:00' + INTERVAL '29' HOUR", "2012-08-09 06:00:00.000", None),
    ("TIMESTAMP '2012-10-31 01:00' - INTERVAL '1' MONTH", "2012-09-30 01:00:00.000", None),
    # a date plus or minus days, months, years stays a date [datetime operators]
    ("DATE '2012-08-08' + INTERVAL '2' DAY", "2012-08-10", "date"),
    ("DATE '2012-08-08' - INTERVAL '2' DAY", "2012-08-06", "date"),
    ("DATE '2012-01-31' + INTERVAL '1' MONTH", "2012-02-29", "date"),
    ("current_date - INTERVAL '7' DAY < current_date", "true", "boolean"),
    ("typeof(current_date + INTERVAL '1' YEAR)", "date", None),
    # intervals print as Trino's: day to second D HH:MM:SS.mmm [datetime operators]
    ("INTERVAL '2' DAY + INTERVAL '3' HOUR", "2 03:00:00.000", "interval day to second"),
    ("INTERVAL '2' DAY - INTERVAL '3' HOUR", "1 21:00:00.000", None),
    ("INTERVAL '1' SECOND * 2", "0 00:00:02.000", None),
    ("INTERVAL '3' YEAR + INTERVAL '5' MONTH", "3-5", None),
    ("from_iso8601_timestamp('2026-11-28T10:11:12Z')", "2026-11-28 10:11:12.000 UTC",
     "timestamp with time zone"),
    ("from_iso8601_date('2020-05-11')", "2020-05-11", "date"),
    ("to_iso8601(DATE '2020-05-11')", "2020-05-11", "varchar"),
    ("to_iso8601(TIMESTAMP '2020-05-11 11:15:05')", "2020-05-11T11:15:05.000", None),
    ("to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05Z'))", "2020-05-11T11:15:05.000Z",
     None),
    ("extract(YEAR FROM TIMESTAMP '2022-10-20 05:10:00')", "2022", "bigint"),
    ("CAST(TIMESTAMP '2022-10-20 05:10:00' AS date)", "2022-10-20", "date"),
    ("with_timezone(TIMESTAMP '2022-11-01 09:08:07.321', 'UTC')", "2022-11-01 09:08:07.321 UTC",
     "timestamp with time zone"),
    ("TIMESTAMP '2022-11-01 09:08:07.321' AT TIME ZONE 'UTC'", "2022-11-01 09:08:07.321 UTC",
     None),
    # ---- extraction [datetime]: ISO day of week, Monday 1 .. Sunday 7 ----
    ("day_of_week(DATE '2026-05-17')", "7", "bigint"),
    ("extract(DOW FROM DATE '2026-05-17')", "7", "bigint"),
    ("day_of_year(DATE '2026-05-09')", "129", None),
    ("hour(TIMESTAMP '2026-05-19 13:04:05')", "13", "bigint"),
    # the millisecond of the second
    ("millisecond(TIMESTAMP '2026-01-01 00:00:05.123')", "123", "bigint"),
    ("to_milliseconds(INTERVAL '1' DAY)", "86400000", "bigint"),
    ("INTERVAL '1' SECOND + INTERVAL '5' MILLISECOND", "0 00:00:01.005", None),
    ("current_timezone()", "UTC", "varchar"),
    ("date('2026-01-02')", "2026-01-02", "date"),
    ("last_day_of_month(DATE '2026-02-10')", "2026-02-28", "date"),
    # ---- strings [string] ----
    ("concat('a', 'b', 'c')", "abc", "varchar"),
    # concat and || are NULL when an argument is NULL
    ("concat('a', NULL)", None, None),
    ("'a' || NULL", None, None),
    ("concat('a')", ERROR, "two or more concatenation arguments"),
    ("concat_ws(',', 'a', NULL, 'b')", "a,b", None),
    ("substr('hello', -3)", "llo", None),
    ("substr('hello', 2, 3)", "ell", None),
    ("substr('hello', 0)", "", None),
    ("substring('hello' FROM 2 FOR 3)", "ell", None),
    ("trim(BOTH 'x' FROM 'xxaxx')", "a", None),
    ("strpos('hello', 'l')", "3", "bigint"),
    ("strpos('hello', 'z')", "0", None),
    ("length('hello')", "5", "bigint"),
    ("lower('AbC') || upper('aBc')", "abcABC", None),
    ("'[' || trim('  a  ') || ltrim('  b') || rtrim('c  ') || ']'", "[abc]", None),
    ("reverse('abc')", "cba", None),
    ("reverse(ARRAY[1, 2, 3])", "[3, 2, 1]", "array"),
    ("concat_ws(',', ARRAY['a', 'b'])", "a,b", "varchar"),
    ("lpad('abc', 5, 'xy')", "xyabc", None),
    ("rpad('abc', 2, 'x')", "ab", None),
    ("split('a,b,c', ',')", "[a, b, c]", "array"),
    ("split_part('a,b,c', ',', 2)", "b", None),
    # "Returns NULL if the index is larger than the number of fields"
    ("split_part('a,b,c', ',', 5)", None, None),
    ("replace('abcb', 'b')", "ac", None),
    ("replace('abc', 'b', 'x')", "axc", None),
    ("starts_with('abc', 'ab')", "true", "boolean"),
    ("chr(65) || CAST(codepoint('A') AS varchar)", "A65", None),
    ("levenshtein_distance('kitten', 'sitting')", "3", "bigint"),
    # format() takes Java's format specifiers [string]
    ("format('%s-%d', 'a', 1)", "a-1", "varchar"),
    ("length('hé')", "2", None),
    ("to_hex(from_base64('/w=='))", "FF", None),
    # ---- regular expressions [regexp], Java syntax, partial match ----
    ("regexp_like('1a 2b 14m', '\\d+b')", "true", "boolean"),
    ("regexp_extract('1a 2b 14m', '\\d+')", "1", None),
    ("regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)", "a", None),
    ("regexp_extract('abc', '\\d+')", None, None),
    ("regexp_extract_all('1a 2b 14m', '\\d+')", "[1, 2, 14]", "array"),
    # every match replaced; $2 is the second group
    ("regexp_replace('1a 2b 14m', '\\d+[ab] ')", "14m", None),
    ("regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')", "3ca 3cb 14m", None),
    ("regexp_replace('abc', '(b)', concat('[', '$1', ']'))", "a[b]c", None),
    # ---- binary [binary], bitwise [bitwise]: hashes are varbinary, to_hex upper case ----
    ("to_hex(md5(to_utf8('a')))", "0CC175B9C0F1B6A831C399E269772661", "varchar"),
    ("to_hex(sha256(to_utf8('a')))",
     "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB", None),
    ("from_utf8(to_utf8('h\u00e9'))", "h\u00e9", None),
    ("bitwise_and(6, 3)", "2", None),
    ("bitwise_or(6, 3)", "7", None),
    ("bitwise_xor(6, 3)", "5", None),
    ("bitwise_not(6)", "-7", None),
    # ---- URLs [url]: [protocol:][//host[:port]][path][?query][#fragment] ----
    ("url_extract_protocol('https://127.0.0.1:8080/req_path')", "https", "varchar"),
    ("url_extract_host('https://example.com:8080/a/b?x=1&y=2#frag')", "example.com", None),
    ("url_extract_port('https://example.com:8080/a/b?x=1&y=2#frag')", "8080", "bigint"),
    ("url_extract_path('https://example.com:8080/a/b?x=1&y=2#frag')", "/a/b", None),
    ("url_extract_query('https://example.com:8080/a/b?x=1&y=2#frag')", "x=1&y=2", None),
    ("url_extract_fragment('https://example.com:8080/a/b?x=1&y=2#frag')", "frag", None),
    ("url_extract_parameter('https://example.com/a?x=1&y=2&y=3', 'y')", "2", None),
    ("url_extract_parameter('https://example.com/a?x=1', 'z')", None, None),
    ("url_extract_query('https://example.com/a')", None, None),
    # a space is +, * and . - _ are kept [url "Encoding functions"]
    ("url_encode('a b*~/')", "a+b*%7E%2F", None),
    ("url_decode('a+b%20c')", "a b c", None),
    # ---- JSON [json], JSONPath ----
    ("json_extract_scalar('{\"a\":{\"b\":[1,2]}}', '$.a.b[0]')", "1", "varchar"),
    # NULL when the value at the path is not a scalar
    ("json_extract_scalar('{\"a\":{\"b\":[1,2]}}', '$.a')", None, None),
    ("json_extract('{\"a\":{\"b\":[1,2]}}', '$.a')", "{\"b\":[1,2]}", None),
    ("json_array_length('[1, 2, 3]')", "3", "bigint"),
    ("json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x')", "2", "bigint"),
    ("json_size('{\"x\": [1, 2, 3]}', '$.x')", "3", None),
    ("json_size('{\"x\": 1}', '$.x')", "0", None),
    ("json_format(json_parse('[1, 2, 3]'))", "[1,2,3]", "varchar"),
    ("json_array_contains('[1, 2, 3]', 2)", "true", "boolean"),
    # a JSON scalar cast to varchar is its value [json "Cast to JSON" / "Cast from JSON"]
    ("CAST(json_extract('{\"a\": \"x y\"}', '$.a') AS varchar)", "x y", "varchar"),
    ("CAST(json_extract('{\"a\": 12}', '$.a') AS bigint)", "12", "bigint"),
    # ---- arrays and maps [array] [map] ----
    ("element_at(ARRAY[1, 2, 3], 2)", "2", "integer"),
    # NULL out of range; a negative index counts from the end
    ("element_at(ARRAY[1, 2, 3], 5)", None, None),
    ("element_at(ARRAY[1, 2, 3], -1)", "3", None),
    ("element_at(ARRAY[1, 2, 3], 0)", ERROR, "SQL array indices start at 1"),
    ("element_at(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b')", "2", None),
    # NULL for a key the map does not hold
    ("element_at(MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'z')", None, None),
    ("cardinality(ARRAY[1, 2, 3])", "3", "bigint"),
    ("cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", "2", "bigint"),
    ("contains(ARRAY[1, 2, 3], 2)", "true", "boolean"),
    ("array_join(ARRAY['a', 'b', 'c'], '-')", "a-b-c", "varchar"),
    ("array_position(ARRAY[10, 20, 30], 20)", "2", "bigint"),
    # 0 when the element is not found
    ("array_position(ARRAY[10, 20, 30], 40)", "0", None),
    ("sequence(1, 5)", "[1, 2, 3, 4, 5]", "array"),
    ("sequence(1, 9, 4)", "[1, 5, 9]", None),
    # slice(x, start, length)
    ("slice(ARRAY[1, 2, 3, 4], 2, 2)", "[2, 3]", None),
    ("ARRAY[1, 2] || ARRAY[3]", "[1, 2, 3]", None),
    ("array_sort(ARRAY[3, 1, 2])", "[1, 2, 3]", None),
    ("transform(ARRAY[1, 2], x -> x * 2)", "[2, 4]", None),
    # array_distinct keeps the order of first occurrences
    ("array_distinct(ARRAY[3, 1, 3, 2, 1])", "[3, 1, 2]", None),
    ("array_remove(ARRAY[1, 2, 1, 3], 1)", "[2, 3]", None),
    ("array_except(ARRAY[1, 2, 3, 2], ARRAY[3])", "[1, 2]", None),
    ("array_union(ARRAY[1, 2], ARRAY[2, 3])", "[1, 2, 3]", None),
    ("array_max(ARRAY[1, 3, 2]) * 10 + array_min(ARRAY[1, 3, 2])", "31", None),
    ("arrays_overlap(ARRAY[1, 2], ARRAY[2, 3])", "true", "boolean"),
    ("filter(ARRAY[1, 2, 3], x -> x > 1)", "[2, 3]", None),
    ("flatten(ARRAY[ARRAY[1], ARRAY[2, 3]])", "[1, 2, 3]", None),
    ("MAP(ARRAY['a', 'b'], ARRAY[1, 2])", "{a=1, b=2}", "map"),
    ("map_values(MAP(ARRAY['a'], ARRAY[1]))", "[1]", None),
    ("SELECT map_agg(k, v) FROM (VALUES ('a', 1)) t(k, v)", "{a=1}", "map"),
    ("SELECT histogram(x) FROM (VALUES ('a'), ('a')) t(x)", "{a=2}", "map"),
    ("map_keys(MAP(ARRAY['a'], ARRAY[1]))", "[a]", None),
    ("SELECT sum(x) FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)", "6", None),
    # ---- conditionals and errors [conditional] ----
    ("if(1 > 2, 'a', 'b')", "b", None),
    ("coalesce(NULL, 2, 3)", "2", None),
    ("nullif(1, 1)", None, None),
    ("try(CAST('abc' AS integer))", None, None),
    ("try(1 / 0)", None, None),
    ("1 / 0", ERROR, "Division by zero"),
    ("1.5 / 0.0", ERROR, "Division by zero"),
    ("mod(5, 0)", ERROR, "Division by zero"),
    ("try_cast('12' AS integer)", "12", "integer"),
    ("try_cast('abc' AS integer)", None, None),
    ("CAST('abc' AS integer)", ERROR, "abc"),
    # a double cast to an integer rounds half away from zero [conversion]
    ("CAST(2.5e0 AS integer)", "3", "integer"),
    ("CAST(-2.5e0 AS bigint)", "-3", "bigint"),
    ("CAST(sqrt(20.25) AS integer)", "5", None),
    ("CAST(2.5 AS integer)", "3", None),
    ("CAST('12' AS smallint)", "12", "smallint"),
    # a timestamp as varchar has its milliseconds [conversion]
    ("CAST(TIMESTAMP '2020-01-01 10:00:00' AS varchar)", "2020-01-01 10:00:00.000", "varchar"),
    ("CAST(from_unixtime(0) AS varchar)", "1970-01-01 00:00:00.000 UTC", None),
    ("CAST(DATE '2020-01-01' AS varchar) || '/' || CAST(12 AS varchar)", "2020-01-01/12", None),
    ("CASE WHEN 1 = 1 THEN 'y' ELSE 'n' END", "y", None),
    # greatest/least are NULL when an argument is NULL [math]
    ("greatest(1, NULL, 3)", None, None),
    ("greatest(1, 5, 3)", "5", "integer"),
    ("least(4, 2)", "2", None),
    # ---- numbers [math] ----
    ("7 / 2", "3", "integer"),
    ("-7 / 2", "-3", None),
    ("mod(-7, 3)", "-1", None),
    ("7 % 3", "1", None),
    # round half away from zero
    ("round(2.5)", "3", None),
    ("round(-2.5)", "-3", None),
    ("round(2.567, 2)", "2.57", None),
    ("round(2.5e0)", "3.0", "double"),
    ("truncate(-2.7e0)", "-2.0", "double"),
    ("power(2, 10)", "1024.0", "double"),
    ("ln(1)", "0.0", None),
    ("log10(1000)", "3.0", None),
    ("log2(8)", "3.0", None),
    ("log(2, 8)", "3.0", None),
    # Trino has no one-argument log
    ("log(100)", ERROR, "log(double, double)"),
    ("sqrt(16)", "4.0", None),
    ("abs(-3)", "3", None),
    ("floor(-1.5e0)", "-2.0", None),
    ("pi()", "3.141592653589793", None),
    # doubles print as Java's Double.toString
    ("1e7", "1.0E7", "double"),
    ("0.0001e0", "1.0E-4", None),
    ("123456.789e0", "123456.789", None),
    ("1e0 / 3", "0.3333333333333333", None),
    ("infinity()", "Infinity", None),
    ("is_nan(nan())", "true", None),
    ("random() < 1", "true", None),
    ("typeof(1)", "integer", None),
    ("typeof(1e0)", "double", None),
    ("typeof(2.5)", "decimal(2,1)", None),
    ("typeof(TIMESTAMP '2026-05-19 12:00:00')", "timestamp(3)", None),
    ("typeof(ARRAY[1, 2])", "array(integer)", None),
    # ---- aggregates [aggregate] ----
    ("SELECT sum(x) FROM (VALUES (1), (2), (3)) t(x)", "6", "bigint"),
    ("SELECT avg(x) FROM (VALUES (1), (2)) t(x)", "1.5", "double"),
    ("SELECT count(*) FROM (VALUES (1), (2), (3)) t(x)", "3", "bigint"),
    ("SELECT count_if(x > 1) FROM (VALUES (1), (2), (3)) t(x)", "2", "bigint"),
    ("SELECT bool_and(x > 0) AND bool_or(x > 2) FROM (VALUES (1), (2), (3)) t(x)", "true",
     "boolean"),
    ("SELECT max_by(n, x) || min_by(n, x) FROM (VALUES (1, 'a'), (3, 'c'), (2, 'b')) t(x, n)",
     "ca", None),
    ("SELECT arbitrary(x) FROM (VALUES (7)) t(x)", "7", None),
    ("SELECT approx_distinct(x) FROM (VALUES (1), (2), (2)) t(x)", "2", "bigint"),
    ("SELECT approx_percentile(x, 0.5) FROM (VALUES (1), (2), (3)) t(x)", "2", None),
    ("SELECT approx_percentile(x, ARRAY[0.0, 1.0]) FROM (VALUES (1), (2), (3)) t(x)", "[1, 3]",
     "array"),
    ("SELECT array_agg(x ORDER BY x) FROM (VALUES (3), (1), (2)) t(x)", "[1, 2, 3]", "array"),
    ("SELECT stddev(x) FROM (VALUES (1), (2), (3), (4)) t(x)", "1.2909944487358056", "double"),
    ("SELECT variance(x) FROM (VALUES (1), (2), (3), (4)) t(x)", "1.6666666666666667", None),
    # ---- the grammar: CTEs, UNNEST, windows, overflow ----
    ("WITH t AS (SELECT 1 AS x) SELECT x FROM t", "1", None),
    ("SELECT count(*) FROM (SELECT ARRAY[1, 2, 3] AS a) s CROSS JOIN UNNEST(a) AS t(x)", "3",
     "bigint"),
    ("SELECT sum(x * n) FROM UNNEST(ARRAY[5, 6]) WITH ORDINALITY AS t(x, n)", "17", None),
    ("SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY x) AS r"
     " FROM (VALUES (1), (2)) t(x))", "2", "bigint"),
    ("2147483647 + 1", ERROR, "2147483647 + 1"),
    # NULLS LAST whatever the direction [select "ORDER BY clause"]
    ("SELECT x FROM (VALUES (1), (NULL), (2)) t(x) ORDER BY x DESC LIMIT 1", "2", None),
    ("SELECT x FROM (VALUES (1), (NULL), (2)) t(x) ORDER BY x LIMIT 1", "1", None),
    # ---- identifiers: case-insensitive, quoted ones too ----
    ("SELECT \"X\" FROM (SELECT 1 AS x)", "1", None),
    # rewritten calls keep their labels
    ("SELECT e FROM (SELECT element_at(ARRAY[1], 1) AS e)", "1", None),
    ("SELECT g FROM (SELECT greatest(1, 2) AS g)", "2", None),
    ("SELECT c FROM (SELECT concat('a', 'b') AS c)", "ab", None),
    ("SELECT d FROM (SELECT 2.5e0 AS d)", "2.5", None),
    ("SELECT n FROM (SELECT CAST(2.5e0 AS integer) AS n)", "3", None),
    ("SELECT \"select\" FROM (SELECT 2 AS \"select\")", "2", None),
]


@pytest.fixture(scope="module")
def wg(sluice):
    s3, athena = sluice.client("s3"), sluice.client("athena")
    tag = uuid.uuid4().hex[:8]
    bucket, name = f"dialect-{tag}", f"wg-dialect-{tag}"
    s3.create_bucket(Bucket=bucket)
    athena.create_work_group(Name=name, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"},
        "EnforceWorkGroupConfiguration": True})
    return athena, name


def _id(case):
    return case[0][:60]


@pytest.mark.parametrize("sql,expected,type_", CASES, ids=[_id(c) for c in CASES])
def test_athena_dialect(wg, sql, expected, type_):
    athena, name = wg
    query = sql if sql.startswith(("SELECT ", "WITH ")) else f"SELECT {sql}"
    qe = run(athena, query, name)
    status = qe["Status"]
    if expected is ERROR:
        assert status["State"] == "FAILED", status
        assert type_ in status["StateChangeReason"], status
        assert status["AthenaError"]["ErrorCategory"] == 2, status
        return
    assert status["State"] == "SUCCEEDED", status
    rows, res = rows_of(athena, qe["QueryExecutionId"])
    assert len(rows) == 2, rows
    value = rows[1][0]
    if isinstance(expected, re.Pattern):
        assert value is not None and expected.match(value), value
    else:
        assert value == expected
    if type_ is not None:
        assert res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Type"] == type_


def test_column_labels_are_lower_case(wg):
    """Trino's identifiers are case-insensitive and come back in lower case."""
    athena, name = wg
    qe = run(athena, "SELECT 1 AS MyCol, 2 AS \"Other\", 3", name)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows, res = rows_of(athena, qe["QueryExecutionId"])
    assert rows[0] == ["mycol", "other", "_col2"]
    assert [c["Name"] for c in res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == \
        ["mycol", "other", "_col2"]


@pytest.mark.parametrize("sql", [
    "SELECT strftime(TIMESTAMP '2026-05-19 12:00:00', '%Y')",
    "SELECT date_sub('day', DATE '2020-03-01', DATE '2020-03-02')",
    "SELECT regexp_matches('a', 'a')",
    "SELECT printf('%s', 'a')",
    "SELECT __sl_typeof(1)",
    "SELECT date_format(TIMESTAMP '2026-05-19 12:00:00', concat('%', 'Y'))",
])
def test_duckdb_only_functions_are_not_athena_functions(wg, sql):
    """DuckDB's names the dialect maps to, and its own macros, are not Athena functions."""
    athena, name = wg
    qe = run(athena, sql, name)
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["AthenaError"]["ErrorCategory"] == 2
