//! The one integration-test binary: starts the real server in-process on port 0 and drives it
//! with real clients (aws-sdk-s3, plain HTTP for presigned URLs and raw signed requests).

mod admin_api;
mod admin_console;
mod admin_explorer;
mod backup;
mod cli_errors;
mod common;
mod conditional_writes;
mod exposure;
mod fsck;
mod gc_edges;
mod identity;
mod lifecycle;
mod metrics;
mod multipart_promises;
mod nfs;
mod nfs_files;
mod quotas;
mod rbac;
mod review_edges;
mod review_fixes;
mod s3_auth;
mod s3_bad_input;
mod s3_buckets;
mod s3_checksums;
mod s3_edges;
mod s3_listing;
mod s3_multipart;
mod s3_objects;
mod share_markers;
mod shares;
mod startup;
mod tls;
mod trust_edges;
mod web_browser;
mod web_session;
