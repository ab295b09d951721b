//! `/openapi.json` describes what the API really answers.

use serde_json::Value;

use test_support::TestStack;

/// Checks `value` against `schema` from `doc`: types, required properties, no undeclared ones.
pub fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            return if options
                .iter()
                .any(|option| conforms(doc, option, value, at).is_ok())
            {
                Ok(())
            } else {
                Err(format!("{at}: {value} matches none of {key}"))
            };
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let matches = types.iter().any(|t| match *t {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    });
    if !matches {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: required {name} missing"));
            }
        }
        for (name, field) in object {
            let declared = properties
                .get(name)
                .ok_or_else(|| format!("{at}: {name} is not in the document"))?;
            conforms(doc, declared, field, &format!("{at}.{name}"))?;
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

pub fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {path} does not document {status}"
    );
    &response["content"]["application/json"]["schema"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_real_responses() {
    let app = TestStack::spawn().await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let upload = app
        .upload(
            "d.csv",
            "text/csv",
            b"a.example.com\nmissing.example.com\n".to_vec(),
        )
        .await;
    assert_eq!(upload.status(), 202);
    let uploaded: Value = upload.json().await.unwrap();
    conforms(
        &doc,
        response_schema(&doc, "post", "/files/upload", 202),
        &uploaded,
        "upload",
    )
    .unwrap();
    let id = uploaded["id"].as_str().unwrap();
    app.wait_until_terminal(id).await;
    let (_, job) = app
        .post_job(&serde_json::json!({"domains": ["a.example.com"]}))
        .await;
    conforms(
        &doc,
        response_schema(&doc, "post", "/jobs", 202),
        &job,
        "job",
    )
    .unwrap();

    let cases = [
        ("/files/{id}", format!("/files/{id}"), 200),
        ("/files", "/files?limit=5".to_owned(), 200),
        ("/files", "/files?limit=500".to_owned(), 400),
        ("/files/{id}/results", format!("/files/{id}/results"), 200),
        ("/files/{id}/source", format!("/files/{id}/source"), 200),
        (
            "/files/{id}",
            format!("/files/{}", uuid::Uuid::now_v7()),
            404,
        ),
        ("/jobs/{id}", format!("/jobs/{id}"), 200),
        ("/jobs/{id}/results", format!("/jobs/{id}/results"), 200),
        ("/health", "/health".to_owned(), 200),
        ("/ready", "/ready".to_owned(), 200),
        ("/openapi.json", "/openapi.json".to_owned(), 200),
    ];
    for (template, path, expected) in cases {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, expected, "{path}: {body}");
        conforms(
            &doc,
            response_schema(&doc, "get", template, status),
            &body,
            &path,
        )
        .unwrap();
    }
    let (status, body) = app.get_json_as("", "/files").await;
    conforms(
        &doc,
        response_schema(&doc, "get", "/files", status),
        &body,
        "401",
    )
    .unwrap();
    // Another method at any path answers the documented 405, with `Allow`.
    for (template, path, method) in [
        ("/files", "/files".to_owned(), reqwest::Method::DELETE),
        ("/files/{id}", format!("/files/{id}"), reqwest::Method::POST),
        (
            "/files/upload",
            "/files/upload".to_owned(),
            reqwest::Method::GET,
        ),
        ("/jobs", "/jobs".to_owned(), reqwest::Method::GET),
        (
            "/openapi.json",
            "/openapi.json".to_owned(),
            reqwest::Method::PUT,
        ),
        ("/health", "/health".to_owned(), reqwest::Method::POST),
    ] {
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        let body: Value = response.json().await.unwrap();
        let documented = doc["paths"][template]
            .as_object()
            .unwrap()
            .values()
            .map(|operation| &operation["responses"]["405"]);
        for response in documented {
            assert!(response["headers"]["Allow"].is_object(), "{template}");
            conforms(
                &doc,
                &response["content"]["application/json"]["schema"],
                &body,
                &path,
            )
            .unwrap();
        }
    }
    for path in ["/files/{id}/download", "/jobs/{id}/download"] {
        assert!(
            doc["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"].is_object(),
            "{path}"
        );
    }
}
