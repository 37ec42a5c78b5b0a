//! The main key that seals secrets at rest (`MAIN_KEY`).
//!
//! Given explicitly, it is used as is. Otherwise, on SQLite, it is generated once into
//! the data directory beside the database (`main.key`, mode 0600), so that a copy of the
//! database file alone opens no secret. Several nodes on PostgreSQL must share one key,
//! so there it must be given.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use skyhook_domain::sealing;

use crate::settings::Settings;

/// Resolves the main key and installs it for this process.
pub fn install(settings: &Settings) -> anyhow::Result<()> {
    let text = match &settings.main_key {
        Some(text) => text.clone(),
        None => match sqlite_dir(&settings.database_url) {
            Some(dir) => read_or_create(&dir.join("main.key"))?,
            None => bail!(
                "MAIN_KEY is required with PostgreSQL: every node must seal and open secrets with the same key \
                 (generate one with `openssl rand -base64 32`)"
            ),
        },
    };
    let key = sealing::parse_main_key(&text).context("MAIN_KEY")?;
    sealing::install_main_key(&key);
    Ok(())
}

/// The directory of a `sqlite://` database file.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    })
}

fn read_or_create(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_string());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = sealing::generate_main_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the main key that seals secrets at rest; back it up with the database");
            Ok(text)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_string())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_lives_beside_the_sqlite_file() {
        assert_eq!(
            sqlite_dir("sqlite://./skyhook-data/skyhook.db"),
            Some(PathBuf::from("./skyhook-data"))
        );
        assert_eq!(
            sqlite_dir("sqlite:///var/lib/skyhook/s.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/skyhook"))
        );
        assert_eq!(sqlite_dir("sqlite://s.db"), Some(PathBuf::from(".")));
        assert_eq!(sqlite_dir("postgres://localhost/db"), None);
    }

    #[test]
    fn a_generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.key");
        let first = read_or_create(&path).unwrap();
        assert_eq!(read_or_create(&path).unwrap(), first);
        assert!(sealing::parse_main_key(&first).is_ok());
    }
}
