//! Links, addresses, routes and rules inside lab namespaces, through
//! rtnetlink (no process per operation).
