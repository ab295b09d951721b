//! Icons declared by a web app manifest (`<link rel="manifest">`).

use url::Url;

/// The absolute URLs of the manifest's `icons[].src`, in order, resolved against the
/// manifest's own URL. Anything that is not JSON or has no icons gives none.
pub(crate) fn icon_urls(bytes: &[u8], manifest_url: &Url) -> Vec<Url> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let Some(icons) = manifest.get("icons").and_then(|icons| icons.as_array()) else {
        return Vec::new();
    };
    icons
        .iter()
        .filter_map(|icon| icon.get("src")?.as_str())
        .filter_map(|src| manifest_url.join(src.trim()).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https" | "data"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_resolved_against_the_manifest_url() {
        let manifest = br#"{"name": "x", "icons": [
            {"src": "icons/192.png", "sizes": "192x192"},
            {"src": "/512.png", "sizes": "512x512", "type": "image/png"},
            {"sizes": "1x1"},
            {"src": "javascript:void(0)"}
        ]}"#;
        let url = Url::parse("https://example.com/m/site.webmanifest").unwrap();
        let icons: Vec<String> = icon_urls(manifest, &url)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            icons,
            [
                "https://example.com/m/icons/192.png",
                "https://example.com/512.png"
            ]
        );
        assert!(icon_urls(b"<html>", &url).is_empty());
        assert!(icon_urls(br#"{"icons": 3}"#, &url).is_empty());
    }
}
