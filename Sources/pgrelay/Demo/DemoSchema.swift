import PGRelayCore

/// The demo's tables, in a schema of their own (`pgrelay_demo`), so that a demo on a database
/// the user gave touches nothing else: customers, their orders and order items, and an events
/// table partitioned by kind (a partitioned table is captured on its parent).
enum DemoSchema {
    static let name = "pgrelay_demo"

    static let tables = ["customers", "orders", "order_items", "events"].map { TableName(schema: name, name: $0) }

    /// Creates what is missing; a second demo on the same database reuses the tables.
    static let sql = """
        create schema if not exists pgrelay_demo;
        create table if not exists pgrelay_demo.customers (
            id bigint generated always as identity primary key,
            name text not null,
            email text not null,
            country text not null,
            created_at timestamptz not null default now()
        );
        create table if not exists pgrelay_demo.orders (
            id bigint generated always as identity primary key,
            customer_id bigint not null references pgrelay_demo.customers (id) on delete cascade,
            status text not null default 'open' check (status in ('open', 'paid', 'shipped', 'cancelled')),
            total numeric(10, 2) not null default 0,
            note text,
            placed_at timestamptz not null default now()
        );
        create table if not exists pgrelay_demo.order_items (
            id bigint generated always as identity primary key,
            order_id bigint not null references pgrelay_demo.orders (id) on delete cascade,
            sku text not null,
            quantity int not null check (quantity > 0),
            price numeric(10, 2) not null
        );
        create table if not exists pgrelay_demo.events (
            id bigint generated always as identity,
            kind text not null,
            at timestamptz not null default now(),
            payload jsonb not null,
            primary key (id, kind)
        ) partition by list (kind);
        create table if not exists pgrelay_demo.events_page_views partition of pgrelay_demo.events for values in ('page_view');
        create table if not exists pgrelay_demo.events_other partition of pgrelay_demo.events default;
        """
}
