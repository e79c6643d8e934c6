//! The one integration-test binary: starts the real server in-process on port 0 and drives it
//! with real clients (aws-sdk-s3, plain HTTP for presigned URLs and raw signed requests).

mod admin_api;
mod admin_explorer;
mod backup;
mod common;
mod fsck;
mod identity;
mod lifecycle;
mod metrics;
mod nfs;
mod nfs_files;
mod quotas;
mod rbac;
mod s3_auth;
mod s3_bad_input;
mod s3_buckets;
mod s3_checksums;
mod s3_listing;
mod s3_multipart;
mod s3_objects;
mod shares;
mod startup;
mod tls;
mod trust_edges;
mod web_browser;
mod web_session;
