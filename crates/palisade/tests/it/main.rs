//! Integration tests: the real server on 127.0.0.1:0 with a fresh database per test, spoken to
//! over HTTP. One test binary (modules below) keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_debug_implementations)]

mod support;

#[macro_use]
extern crate palisade_testkit;

mod audit;
mod auth;
mod auth_limits;
mod binary;
mod body_limit;
mod cli;
mod concurrent_patches;
mod connections;
mod contract;
mod defined;
mod defined_hosts;
mod defined_order;
mod durability;
mod enforcement;
mod enforcement_netns;
mod error_order;
mod group_pages;
mod hostway;
mod hostway_links;
mod inventory_changes;
mod ipam;
mod katapult;
mod katapult_sg;
mod limits;
mod multinode;
mod native_groups;
mod native_order;
mod nesting;
mod nul;
mod observability;
mod openapi;
mod oracles;
mod ordered;
mod persistence;
mod policy_engine;
mod projections;
mod replay;
mod resilience;
mod route_table;
mod server_groups;
mod upgrade;
mod validation;
mod zstack;
