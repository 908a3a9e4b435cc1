/*
 * The text rewrites of Trino grammar DuckDB's parser refuses (query_text.c): if with two
 * arguments, VALUES rows without parentheses, array(T) types in casts; and everything
 * else (literals, quoted names, comments, DuckDB's own forms) left as written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "query/query_int.h"

static void rewrites(const char *in, const char *want)
{
    char *got = query__text_prepass(in);
    if (strcmp(got, want) != 0) {
        fail_msg("%s\n  gave   %s\n  wanted %s", in, got, want);
    }
    free(got);
}

static void test_if_with_two_arguments(void **state)
{
    (void)state;
    rewrites("SELECT if(a > 1, 'x')", "SELECT if(a > 1, 'x', NULL)");
    rewrites("SELECT IF (a, f(b, c))", "SELECT IF (a, f(b, c), NULL)");
    rewrites("SELECT if(a, if(b, 1), 2)", "SELECT if(a, if(b, 1, NULL), 2)");
    rewrites("SELECT if(a, if(b, 1))", "SELECT if(a, if(b, 1, NULL), NULL)");
    rewrites("SELECT if(a, 1, 2)", "SELECT if(a, 1, 2)");
    rewrites("SELECT t.if(a, 1), iff(a, 1)", "SELECT t.if(a, 1), iff(a, 1)");
}

static void test_values_rows_without_parentheses(void **state)
{
    (void)state;
    rewrites("VALUES 1, 2", "VALUES (1), (2)");
    rewrites("VALUES 'a' ", "VALUES ('a') ");
    rewrites("SELECT * FROM (VALUES 1, 2 + 3) AS t(x)",
             "SELECT * FROM (VALUES (1), (2 + 3)) AS t(x)");
    rewrites("VALUES f(1, 2), 3", "VALUES (f(1, 2)), (3)");
    /* DuckDB's form is left as written */
    rewrites("VALUES (1, 'a'), (2, 'b')", "VALUES (1, 'a'), (2, 'b')");
    rewrites("SELECT * FROM (VALUES (1), (2)) t(x)", "SELECT * FROM (VALUES (1), (2)) t(x)");
}

static void test_array_types_in_casts(void **state)
{
    (void)state;
    rewrites("SELECT CAST(x AS array(integer))", "SELECT CAST(x AS integer[]     )");
    rewrites("SELECT try_cast(x AS ARRAY(varchar))", "SELECT try_cast(x AS varchar[]     )");
    rewrites("SELECT CAST(x AS array(array(bigint)))", "SELECT CAST(x AS bigint[][]          )");
    rewrites("SELECT CAST(x AS map(varchar, array(integer)))",
             "SELECT CAST(x AS map(varchar,integer[])      )");
    rewrites("SELECT CAST(x AS array(decimal(10,2)))", "SELECT CAST(x AS decimal(10,2)[]     )");
    /* nothing to change */
    rewrites("SELECT CAST(x AS map(varchar, integer))", "SELECT CAST(x AS map(varchar, integer))");
    rewrites("SELECT CAST(x AS integer) AS arr", "SELECT CAST(x AS integer) AS arr");
}

static void test_literals_names_and_comments_are_kept(void **state)
{
    (void)state;
    rewrites("SELECT 'if(a, b)', 'VALUES 1', 'AS array(integer)'",
             "SELECT 'if(a, b)', 'VALUES 1', 'AS array(integer)'");
    rewrites("SELECT \"if\"(a, b) AS \"values 1\"", "SELECT \"if\"(a, b) AS \"values 1\"");
    rewrites("SELECT 1 -- if(a, b)\n, 'it''s' /* VALUES 1 */",
             "SELECT 1 -- if(a, b)\n, 'it''s' /* VALUES 1 */");
    rewrites("", "");
    rewrites("SELECT if(", "SELECT if(");
    rewrites("SELECT CAST(x AS array(", "SELECT CAST(x AS array(");
}

int main(void)
{
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_with_two_arguments),
        cmocka_unit_test(test_values_rows_without_parentheses),
        cmocka_unit_test(test_array_types_in_casts),
        cmocka_unit_test(test_literals_names_and_comments_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
