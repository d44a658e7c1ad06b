//! A temp directory removed on drop, shared by the integration-test targets
//! (`#[path = "../common/tempdir.rs"] mod tempdir;`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory `meta-cni-<tag>-<pid>-<n>` under the temp dir, 0755.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "meta-cni-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        // Ours alone, whatever the umask: meta-cni trusts a state directory
        // or log file below it only when no one else can write it (the temp
        // dir above is sticky: docs/security.md).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
