//! `backup --to DIR|-`: the server streams a tar; it goes to stdout as it is, or is unpacked
//! into an empty directory (via a temporary file beside it, removed afterwards).

use std::path::Path;

use anyhow::Context;

use super::Ctx;
use super::error::OutputClosed;

pub async fn backup(ctx: &Ctx, to: &Path) -> anyhow::Result<()> {
    if to == Path::new("-") {
        let mut out = tokio::io::stdout();
        // Unlike `object get … - | head`, a reader that stops early leaves a backup cut short:
        // a failure, not the quiet end of a closed pipe.
        return match ctx.api.get_to("/api/backup", "", &mut out).await {
            Err(e) if e.is::<OutputClosed>() => Err(anyhow::anyhow!(
                "standard output was closed before the backup was complete: the backup is incomplete"
            )),
            r => r.map(|_| ()),
        };
    }
    gatehouse_store::backup::ensure_empty_dir(to)?;
    let parent = to
        .canonicalize()
        .with_context(|| format!("{}", to.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    let tmp = parent.join(format!(".gatehouse-backup-{}.tar", std::process::id()));
    let result = download_and_unpack(ctx, &tmp, to).await;
    let _ = std::fs::remove_file(&tmp);
    let (files, bytes) = result?;
    let summary = serde_json::json!({ "to": to, "files": files, "bytes": bytes });
    if ctx.json {
        super::output::json(&summary)
    } else {
        println!(
            "Backup written to {} ({files} files, {bytes} bytes)",
            to.display()
        );
        Ok(())
    }
}

async fn download_and_unpack(ctx: &Ctx, tmp: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    // The archive holds the master key and every object: private (0600) whatever the umask.
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(gatehouse_store::private::FILE_MODE)
        .open(tmp)
        .await
        .with_context(|| format!("creating {}", tmp.display()))?;
    let bytes = ctx.api.get_to("/api/backup", "", &mut f).await?;
    f.sync_all().await?;
    drop(f);
    let (path, dir) = (tmp.to_path_buf(), to.to_path_buf());
    let files = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut r = std::io::BufReader::new(std::fs::File::open(&path)?);
        Ok(gatehouse_store::backup::unpack_tar(&mut r, &dir)?)
    })
    .await??;
    Ok((files, bytes))
}
