//! Icons declared by a web app manifest (`<link rel="manifest">`).

use url::Url;

use super::kept::Theme;

/// The absolute URLs of the manifest's `icons[].src`, in order, resolved against the
/// manifest's own URL, each [`Theme::Dark`] when its `purpose` says `dark` (not in the
/// standard, but seen). Anything that is not JSON or has no icons gives none.
pub(crate) fn icon_urls(bytes: &[u8], manifest_url: &Url) -> Vec<(Url, Theme)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let Some(icons) = manifest.get("icons").and_then(|icons| icons.as_array()) else {
        return Vec::new();
    };
    icons
        .iter()
        .filter_map(|icon| {
            let url = manifest_url.join(icon.get("src")?.as_str()?.trim()).ok()?;
            let dark = icon
                .get("purpose")
                .and_then(|purpose| purpose.as_str())
                .is_some_and(|purpose| purpose.to_ascii_lowercase().contains("dark"));
            let theme = if dark { Theme::Dark } else { Theme::Light };
            Some((url, theme))
        })
        .filter(|(url, _)| matches!(url.scheme(), "http" | "https" | "data"))
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
            {"src": "/dark.png", "purpose": "any Dark"},
            {"src": "/mask.png", "purpose": 7},
            {"sizes": "1x1"},
            {"src": "javascript:void(0)"}
        ]}"#;
        let url = Url::parse("https://example.com/m/site.webmanifest").unwrap();
        let icons: Vec<(String, Theme)> = icon_urls(manifest, &url)
            .into_iter()
            .map(|(url, theme)| (url.to_string(), theme))
            .collect();
        assert_eq!(
            icons,
            [
                (
                    "https://example.com/m/icons/192.png".to_owned(),
                    Theme::Light
                ),
                ("https://example.com/512.png".to_owned(), Theme::Light),
                ("https://example.com/dark.png".to_owned(), Theme::Dark),
                ("https://example.com/mask.png".to_owned(), Theme::Light),
            ]
        );
        assert!(icon_urls(b"<html>", &url).is_empty());
        assert!(icon_urls(br#"{"icons": 3}"#, &url).is_empty());
    }
}
