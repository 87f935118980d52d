-- realtime.chunk(ord, bytes_so_far): the chunk (log row) of a statement's ord-th row, given the
-- size of the statement's row data up to and including it: a new chunk every 500 rows or about
-- 1 MB, whichever comes first. Inlined where it is used.
create or replace function realtime.chunk(ord bigint, bytes_so_far bigint) returns bigint
language sql immutable parallel safe as $fn$
    -- Inlined into the capture functions, which run with no fixed search_path: every operator named
    -- with its schema.
    -- OPERATOR(...) forms all bind alike, left to right: the parentheses give the precedence.
    select ((ord OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 500)
           OPERATOR(pg_catalog.+) (bytes_so_far OPERATOR(pg_catalog./) 1048576)
$fn$;
