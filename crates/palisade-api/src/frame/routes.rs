//! Every route is declared once, through [`Routes`]: the axum router is built from the
//! declarations and the route table ([`crate::route_table`]) is read from the same declarations.
//! A route cannot be served without being listed, so the route-table test, which walks the list
//! (no credentials, another organization's token, a token lacking the scope, garbage bodies),
//! covers every route the application serves, including ones added later.
//!
//! Each declaration names who may call the route ([`Guard`]). A face with a declared
//! [`Operation`] reads it back from the request ([`RouteOperation`]) to authorize it before it
//! reads the body, so the scopes a route needs are written in one place: the declaration, whose
//! operation the core's `access` table maps to scopes.
//!
//! Three ways in, because the faces route differently: plain routes (`get`, `post`, …), the
//! native face's OpenAPI-documented routes ([`Routes::documented`]: the document and the router
//! come from one `utoipa` list), and the Katapult dispatcher ([`Routes::dispatcher`]: Apia routes
//! by its own table, which is what it hands over here).

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{any, on, MethodFilter};
use axum::{Extension, Router};
use palisade_core::Operation;
use utoipa::openapi::OpenApi;

use super::{fallback, request_id, Face};
use crate::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone, without credentials: the probes and the OpenAPI document.
    Open,
    /// An API token (the native face: `security: bearer` in its OpenAPI document). The handler
    /// authorizes before it reads a body; the core is the authority.
    Bearer,
    /// A caller allowed this operation. The face authorizes it before it reads the body or looks
    /// up anything the request names; the core checks it again.
    Operation(Operation),
}

/// One route: face, method, path template and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub face: Face,
    pub method: Method,
    /// Path template: `{param}` placeholders, or `:param` on Katapult (Apia's own notation).
    pub path: String,
    pub guard: Guard,
    /// Also served with a trailing `/` ([`Routes::with_trailing_slash`]).
    pub trailing_slash: bool,
}

/// The declared operation of the route a request matched (a request extension, set on every
/// route declared with [`Guard::Operation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteOperation(pub Operation);

/// A face's routes: the router and the table, built together.
#[derive(Debug)]
pub struct Routes {
    face: Face,
    router: Router<AppState>,
    table: Vec<RouteEntry>,
    trailing_slash: bool,
    request_ids: bool,
}

impl Routes {
    pub fn new(face: Face) -> Self {
        Self { face, router: Router::new(), table: Vec::new(), trailing_slash: false, request_ids: false }
    }

    /// Also serve each path declared from now on with a trailing `/` (Hostway's links end with
    /// one). The table lists the path once, without it.
    pub fn with_trailing_slash(mut self) -> Self {
        self.trailing_slash = true;
        self
    }

    /// Stamp `X-Request-ID` on every response of these routes (405s included).
    pub fn with_request_ids(mut self) -> Self {
        self.request_ids = true;
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, guard: Guard, handler: H) -> Self {
        self.route((Method::GET, MethodFilter::GET), path, guard, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, guard: Guard, handler: H) -> Self {
        self.route((Method::POST, MethodFilter::POST), path, guard, handler)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &str, guard: Guard, handler: H) -> Self {
        self.route((Method::PUT, MethodFilter::PUT), path, guard, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, guard: Guard, handler: H) -> Self {
        self.route((Method::DELETE, MethodFilter::DELETE), path, guard, handler)
    }

    fn route<H: Handler<T, AppState>, T: 'static>(
        mut self,
        (method, filter): (Method, MethodFilter),
        path: &str,
        guard: Guard,
        handler: H,
    ) -> Self {
        let mut endpoint = on(filter, handler);
        if let Guard::Operation(op) = guard {
            endpoint = endpoint.layer(Extension(RouteOperation(op)));
        }
        if self.trailing_slash {
            self.router = self.router.route(&format!("{path}/"), endpoint.clone());
        }
        self.router = self.router.route(path, endpoint);
        let (face, trailing_slash) = (self.face, self.trailing_slash);
        self.table.push(RouteEntry { face, method, path: path.to_owned(), guard, trailing_slash });
        self
    }

    /// Routes built by `utoipa_axum` with their OpenAPI document: every operation of the
    /// document is listed (with [`Guard::Bearer`] when it requires a credential, else
    /// [`Guard::Open`]).
    pub fn documented(mut self, router: Router<AppState>, doc: &OpenApi) -> Self {
        for (path, item) in &doc.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
                (Method::HEAD, &item.head),
                (Method::OPTIONS, &item.options),
                (Method::TRACE, &item.trace),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let guard = if secured { Guard::Bearer } else { Guard::Open };
                let entry =
                    RouteEntry { face: self.face, method, path: path.clone(), guard, trailing_slash: false };
                self.table.push(entry);
            }
        }
        self.router = self.router.merge(router);
        self
    }

    /// A dispatcher that routes everything under `prefix` by its own table (Katapult's Apia
    /// trie): `table` must be that table, `(method, path template, operation)`.
    pub fn dispatcher<H: Handler<T, AppState>, T: 'static>(
        mut self,
        prefix: &str,
        handler: H,
        table: impl IntoIterator<Item = (Method, String, Operation)>,
    ) -> Self {
        self.router = self
            .router
            .route(prefix, any(handler.clone()))
            .route(&format!("{prefix}/{{*rest}}"), any(handler));
        self.table.extend(table.into_iter().map(|(method, path, op)| RouteEntry {
            face: self.face,
            method,
            path,
            guard: Guard::Operation(op),
            trailing_slash: false,
        }));
        self
    }

    /// The table, in declaration order.
    pub fn into_table(self) -> Vec<RouteEntry> {
        self.table
    }

    /// The router: a known path asked with another method answers the face's 405.
    pub fn into_router(self) -> Router<AppState> {
        let router = self.router.method_not_allowed_fallback(fallback::method_not_allowed);
        if self.request_ids {
            router.layer(axum::middleware::map_response(request_id::stamped))
        } else {
            router
        }
    }
}
