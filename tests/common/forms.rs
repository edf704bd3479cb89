//! Form scraping as a browser submits forms: every named input and select of a form, and
//! [`TestApp::resubmit`], which posts a form page back with some fields changed.

use reqwest::Response;
use scraper::{Html, Selector};

use super::TestApp;

/// A form as a browser would submit it: its action, its named fields with their values, and
/// its named buttons.
pub struct ParsedForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub buttons: Vec<(String, String)>,
}

impl ParsedForm {
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse_forms(page: &str) -> Vec<ParsedForm> {
    let doc = Html::parse_document(page);
    let form_sel = Selector::parse("form").expect("sel");
    let input_sel = Selector::parse("input").expect("sel");
    let button_sel = Selector::parse("button[name]").expect("sel");
    let select_sel = Selector::parse("select").expect("sel");
    let option_sel = Selector::parse("option").expect("sel");
    doc.select(&form_sel)
        .map(|f| ParsedForm {
            action: f.value().attr("action").unwrap_or("").to_string(),
            // Also selects, with their selected (or first) option, as a browser submits them.
            fields: f
                .select(&input_sel)
                .filter_map(|i| {
                    let name = i.value().attr("name")?;
                    Some((
                        name.to_string(),
                        i.value().attr("value").unwrap_or("").to_string(),
                    ))
                })
                .chain(f.select(&select_sel).filter_map(|sel| {
                    let name = sel.value().attr("name")?;
                    let options: Vec<_> = sel.select(&option_sel).collect();
                    let chosen = options
                        .iter()
                        .find(|o| o.value().attr("selected").is_some())
                        .or(options.first())?;
                    Some((
                        name.to_string(),
                        chosen.value().attr("value").unwrap_or("").to_string(),
                    ))
                }))
                .collect(),
            buttons: f
                .select(&button_sel)
                .filter_map(|b| {
                    Some((
                        b.value().attr("name")?.to_string(),
                        b.value().attr("value").unwrap_or("").to_string(),
                    ))
                })
                .collect(),
        })
        .collect()
}

/// The value of the first `<input name=…>` on a page.
pub fn form_value(page: &str, name: &str) -> Option<String> {
    let doc = Html::parse_document(page);
    let sel = Selector::parse(&format!("input[name=\"{name}\"]")).ok()?;
    doc.select(&sel)
        .next()
        .map(|i| i.value().attr("value").unwrap_or("").to_string())
}

pub(super) fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(n, _)| n != name);
    fields.push((name.into(), value.into()));
}

impl TestApp {
    /// Submits a form page again as a browser would: fetches `path`, takes the form that posts
    /// back to `path` with every field as the page filled it (its CSRF token included),
    /// replaces the `changes` and posts it.
    pub async fn resubmit(&self, path: &str, changes: &[(&str, &str)]) -> Response {
        let page = self.get_text(path).await;
        let mut fields = parse_forms(&page)
            .into_iter()
            .find(|f| f.action == path)
            .unwrap_or_else(|| panic!("no form posting to {path} on its page"))
            .fields;
        for (name, value) in changes {
            set(&mut fields, name, value);
        }
        self.client
            .post(self.url(path))
            .form(&fields)
            .send()
            .await
            .expect("POST")
    }
}
