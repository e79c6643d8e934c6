//! `peer …`.

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ctx;
use super::api::seg;
use super::args::PeerCmd;
use super::output::{self, time_ms};

#[derive(Deserialize)]
struct Peer {
    address: String,
    user_id: String,
    name: String,
    description: String,
    created_ms: i64,
}

pub async fn peer(ctx: &Ctx, cmd: PeerCmd) -> anyhow::Result<()> {
    match cmd {
        PeerCmd::Add {
            address,
            user,
            description,
        } => {
            let body = json!({ "address": address, "user": user, "description": description });
            let v = ctx
                .api
                .call(Method::POST, "/api/peers", "", Some(&body))
                .await?;
            if ctx.json {
                return output::json(&v);
            }
            let p: Peer = serde_json::from_value(v)?;
            println!("Peer {} acts as {} ({})", p.address, p.name, p.user_id);
            Ok(())
        }
        PeerCmd::List => {
            let v: Value = ctx.api.get("/api/peers", "").await?;
            if ctx.json {
                return output::json(&v);
            }
            let peers: Vec<Peer> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = peers
                .into_iter()
                .map(|p| {
                    vec![
                        p.address,
                        p.name,
                        p.user_id,
                        time_ms(p.created_ms),
                        p.description,
                    ]
                })
                .collect();
            output::table(
                &["ADDRESS", "USER", "USER ID", "ADDED", "DESCRIPTION"],
                &rows,
            );
            Ok(())
        }
        PeerCmd::Remove { address } => {
            let path = format!("/api/peers/{}", seg(&address));
            ctx.api.call(Method::DELETE, &path, "", None::<&()>).await?;
            ctx.done(|| println!("Removed peer {address}"))
        }
    }
}
