//! A browser walking the sandbox's sign-in pages: the account picker, the sign-in form and
//! the consent page, until the sandbox redirects back to the app.

use reqwest::Client;

use super::forms::{parse_forms, set};
use super::location;

/// Follows the sandbox's pages: account picker ("Use another account"), sign-in form,
/// consent page. Returns the first redirect that leaves the sandbox.
pub async fn walk_sandbox(
    client: &Client,
    start: &str,
    user: &str,
    password: &str,
    accept: bool,
) -> String {
    let sandbox_origin = origin(start);
    let mut response = client.get(start).send().await.expect("authorize");
    for _ in 0..10 {
        if response.status().is_redirection() {
            let next = absolute(&sandbox_origin, &location(&response));
            if !next.starts_with(&sandbox_origin) {
                return next;
            }
            response = client.get(&next).send().await.expect("follow");
            continue;
        }
        let page = response.text().await.expect("page");
        let forms = parse_forms(&page);
        let (action, fields) = if let Some(f) = forms.iter().find(|f| f.has("passwd")) {
            let mut fields = f.fields.clone();
            set(&mut fields, "login", user);
            set(&mut fields, "passwd", password);
            (f.action.clone(), fields)
        } else if let Some(f) = forms.iter().find(|f| f.value("action") == Some("another")) {
            (f.action.clone(), f.fields.clone())
        } else if let Some(f) = forms
            .iter()
            .find(|f| f.buttons.iter().any(|(n, _)| n == "consent"))
        {
            let mut fields = f.fields.clone();
            fields.push((
                "consent".into(),
                if accept { "accept" } else { "cancel" }.into(),
            ));
            (f.action.clone(), fields)
        } else if let Some(f) = forms.first() {
            (f.action.clone(), f.fields.clone())
        } else {
            panic!("sandbox page without a form: {page}");
        };
        response = client
            .post(absolute(&sandbox_origin, &action))
            .form(&fields)
            .send()
            .await
            .expect("sandbox form");
    }
    panic!("the sandbox did not redirect back");
}

fn origin(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""))
        + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
}

fn absolute(origin: &str, target: &str) -> String {
    if target.starts_with("http://") || target.starts_with("https://") {
        target.to_string()
    } else {
        format!("{origin}{target}")
    }
}
