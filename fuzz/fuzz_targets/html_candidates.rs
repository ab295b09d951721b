//! Any home page: `extract_candidates` never panics, and every candidate is an absolute
//! http(s) URL with a host, or a `data:` URL, at most 32 of them and none twice.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use favicon::fuzzing::extract_candidates;
use url::Url;

static PAGE: LazyLock<Url> = LazyLock::new(|| {
    Url::parse("https://www.example.com:8443/dir/index.html?q=1").expect("a valid page URL")
});

fuzz_target!(|data: &[u8]| {
    let candidates = extract_candidates(data, None, &PAGE);
    assert!(candidates.len() <= 32, "{} candidates", candidates.len());
    for (i, candidate) in candidates.iter().enumerate() {
        let url = &candidate.url;
        match url.scheme() {
            "http" | "https" => assert!(
                url.host_str().is_some_and(|host| !host.is_empty()),
                "{url} has no host"
            ),
            "data" => {}
            scheme => panic!("{url} has scheme {scheme}"),
        }
        assert!(
            !candidates[..i].iter().any(|earlier| earlier.url == *url),
            "{url} twice"
        );
    }
});
