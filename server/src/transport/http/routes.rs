//! The routes of the side channel (see the module above for what each answers) and their state.

use std::collections::HashMap;
use std::net::IpAddr;

use heed::types::Bytes;
use heed::Database;
use lmdb_schema::ranges::{validate_table_name, RangeTable, DEFAULT_TABLE, TABLES_DB};
use lmdb_schema::{Store, StoreError};
use serde_json::json;

use super::request::{percent_decode, query_param, Request, Response};
use crate::server::RateLimit;

/// Answers `GET` (and `HEAD`) requests with `f`, any other method with 405.
fn get(request: &Request<'_>, f: impl FnOnce() -> Response) -> Response {
    if request.method == "GET" || request.method == "HEAD" {
        f()
    } else {
        Response::method_not_allowed("GET, HEAD")
    }
}

/// Routes requests; owns the per-thread state (range table handles).
pub struct Handler<'s> {
    store: &'s Store,
    /// Handles of tables seen to exist. LMDB handles stay valid for the process, also across a
    /// drop and re-creation of the table, so entries are never removed (the map is bounded by the
    /// number of tables ever created).
    tables: HashMap<String, RangeTable>,
    /// The list of tables, once it exists: checked in every request's snapshot.
    tables_db: Option<Database<'static, Bytes, Bytes>>,
    db_errors: RateLimit,
    /// Served at `/metrics` when set.
    pub metrics: Option<&'s crate::ops::metrics::Metrics>,
}

impl<'s> Handler<'s> {
    pub fn new(store: &'s Store) -> Self {
        Handler { store, tables: HashMap::new(), tables_db: None, db_errors: RateLimit::new(), metrics: None }
    }

    /// Routes one request. Adding an endpoint is one arm here.
    pub fn handle(&mut self, request: &Request<'_>) -> Response {
        let path = request.path.strip_prefix('/').unwrap_or(request.path);
        let (first, rest) = match path.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (path, None),
        };
        match (first, rest) {
            // Healthy means answering: a read transaction must open (a map the server cannot
            // adopt, reader slots run out or a damaged file all make every query fail).
            ("health", None) => get(request, || match self.store.read_txn() {
                Ok(_) => Response::json(200, json!({ "status": "ok" })),
                Err(e) => Response::json(503, json!({ "status": "unavailable", "error": e.to_string() })),
            }),
            ("lookup", Some(ip)) => get(request, || self.lookup(ip, request.query)),
            ("metrics", None) => get(request, || crate::ops::metrics::http_response(self.metrics, self.store)),
            _ => Response::error(404, "not found"),
        }
    }

    /// `GET /lookup/<ip>[?table=NAME]`.
    fn lookup(&mut self, ip_text: &str, query: Option<&str>) -> Response {
        let table_name = match query_param(query, "table") {
            None => DEFAULT_TABLE.to_string(),
            Some(Some(name)) if validate_table_name(&name).is_ok() => name,
            Some(Some(name)) => return Response::json(400, json!({ "error": "invalid table name", "table": name })),
            Some(None) => return Response::error(400, "invalid table name"),
        };
        let Some(ip_text) = percent_decode(ip_text) else {
            return Response::error(400, "invalid IP address");
        };
        let ip: IpAddr = match ip_text.parse() {
            Ok(ip) => ip,
            Err(_) => return Response::json(400, json!({ "error": "invalid IP address", "ip": ip_text })),
        };
        match self.lookup_in(&table_name, ip) {
            Ok(response) => response,
            Err(e) => {
                if self.db_errors.allow() {
                    tracing::warn!("http lookup of {ip} in table {table_name} failed: {e}");
                }
                Response::error(500, "database error")
            }
        }
    }

    fn lookup_in(&mut self, table_name: &str, ip: IpAddr) -> Result<Response, StoreError> {
        let no_such_table = || Response::json(404, json!({ "error": "no such table", "table": table_name }));
        // Opening handles takes a read transaction of its own: before this request's one.
        let Some(table) = self.table(table_name)? else {
            return Ok(no_such_table());
        };
        let Some(tables_db) = self.tables_db else {
            return Ok(no_such_table());
        };
        let rtxn = self.store.read_txn()?;
        if tables_db.get(&rtxn, table_name.as_bytes()).map_err(|e| self.store.error(e))?.is_none() {
            return Ok(no_such_table()); // dropped since its handles were cached
        }
        Ok(match table.lookup(&rtxn, ip)? {
            Some(hit) => {
                let meta = hit.metadata_json()?;
                // The exact line of `lmdns-loader ranges lookup`; addresses need no JSON escaping.
                let body = format!(r#"{{"ip":"{ip}","start":"{}","end":"{}","meta":{meta}}}"#, hit.start, hit.end);
                Response { status: 200, body, allow: None, content_type: "application/json", head_only: false }
            }
            None => Response::json(404, json!({ "error": "not in any range", "ip": ip.to_string() })),
        })
    }

    /// The cached handles of `name`, or freshly opened ones if it exists now. Must be called
    /// while this thread holds no read transaction.
    fn table(&mut self, name: &str) -> Result<Option<RangeTable>, StoreError> {
        if let Some(table) = self.tables.get(name) {
            return Ok(Some(*table));
        }
        let store = self.store;
        let rtxn = store.read_txn()?;
        let (tables_db, table) = rtxn
            .consume(|rtxn| {
                store.env().open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
                    let tables_db = opener.open_database::<Bytes, Bytes>(rtxn, Some(TABLES_DB))?;
                    let table = RangeTable::open_with(opener, rtxn, name)?;
                    Ok(heed::CommitOrAbort::<_, ()>::Commit((tables_db, table)))
                })
            })
            .map_err(|e| store.error(e))?
            .unwrap_commit();
        if tables_db.is_some() {
            self.tables_db = tables_db;
        }
        if let Some(table) = table {
            self.tables.insert(name.to_string(), table);
        }
        Ok(table)
    }
}
