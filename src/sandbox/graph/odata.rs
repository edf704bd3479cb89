//! OData query options as Graph's mail endpoints accept them: `$top`, `$skip`, `$select`,
//! `$filter` (a conjunction of simple comparisons), `$orderby`, `$expand` of the
//! PR_MESSAGE_SIZE extended property, `$count`, and the paging tokens.
//!
//! Unknown `$` options are rejected like Graph does; custom options without `$` (such as
//! `changeType` or `includeHiddenFolders`) are read where meaningful and otherwise ignored.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::errors::GraphError;

/// The type of a filterable property, which decides how its literal is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    Bool,
    DateTime,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "gt" => Op::Gt,
            "le" => Op::Le,
            "lt" => Op::Lt,
            _ => return None,
        })
    }

    pub fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Ne => left != right,
            Op::Ge => left >= right,
            Op::Gt => left > right,
            Op::Le => left <= right,
            Op::Lt => left < right,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    DateTime(OffsetDateTime),
    Text(String),
}

/// One `property op literal` comparison; `prop` is the canonical property name.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub prop: &'static str,
    pub op: Op,
    pub value: Literal,
}

/// Parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub top: Option<usize>,
    pub skip: usize,
    pub select: Option<Vec<&'static str>>,
    pub filter: Vec<Clause>,
    /// (property, descending)
    pub orderby: Vec<(&'static str, bool)>,
    /// Extended property ids requested through `$expand=singleValueExtendedProperties(...)`.
    pub expand_props: Vec<String>,
    pub count: bool,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    /// Custom (non-`$`) options, decoded, in request order.
    pub custom: Vec<(String, String)>,
}

/// What one endpoint accepts.
pub struct Schema {
    pub type_name: &'static str,
    pub options: &'static [&'static str],
    /// Properties usable in `$select` (canonical spelling).
    pub selectable: &'static [&'static str],
    /// Properties usable in `$filter`/`$orderby`, with their types.
    pub filterable: &'static [(&'static str, PropType)],
}

fn canonical(list: &'static [&'static str], name: &str) -> Option<&'static str> {
    list.iter().copied().find(|p| p.eq_ignore_ascii_case(name))
}

fn filter_prop(schema: &Schema, name: &str) -> Option<(&'static str, PropType)> {
    schema
        .filterable
        .iter()
        .copied()
        .find(|(p, _)| p.eq_ignore_ascii_case(name))
}

fn no_property(schema: &Schema, name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Could not find a property named '{name}' on type '{}'.",
        schema.type_name
    ))
}

/// Parses the raw query string of a request against an endpoint's schema.
pub fn parse(raw: Option<&str>, schema: &Schema) -> Result<Query, GraphError> {
    let mut query = Query::default();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let key = key.trim().to_string();
        if !key.starts_with('$') {
            query.custom.push((key, value.into_owned()));
            continue;
        }
        let lower = key.to_ascii_lowercase();
        if !schema.options.contains(&lower.as_str()) {
            return Err(GraphError::bad_request(format!(
                "The query parameter '{key}' is not supported."
            )));
        }
        if seen.contains(&lower) {
            return Err(GraphError::bad_request(format!(
                "Query option '{key}' was specified more than once, but it must be specified at most once."
            )));
        }
        seen.push(lower.clone());
        let value = value.trim();
        match lower.as_str() {
            "$top" => query.top = Some(parse_top(value)?),
            "$skip" => {
                query.skip = value.parse().map_err(|_| {
                    GraphError::bad_request(format!(
                        "Invalid value '{value}' for $skip query option found."
                    ))
                })?
            }
            "$select" => query.select = Some(parse_select(value, schema)?),
            "$filter" => query.filter = parse_filter(value, schema)?,
            "$orderby" => query.orderby = parse_orderby(value, schema)?,
            "$expand" => query.expand_props = parse_expand(value, schema)?,
            "$count" => query.count = value.eq_ignore_ascii_case("true"),
            "$skiptoken" => query.skiptoken = Some(value.to_string()),
            "$deltatoken" => query.deltatoken = Some(value.to_string()),
            _ => {}
        }
    }
    check_efficiency(&query)?;
    Ok(query)
}

impl Query {
    pub fn custom(&self, name: &str) -> Option<&str> {
        self.custom
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_top(value: &str) -> Result<usize, GraphError> {
    match value.parse::<i64>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n as usize),
        _ => Err(GraphError::bad_request(format!(
            "Invalid value '{value}' for $top query option found. The $top query option requires a value between 1 and 1000."
        ))),
    }
}

fn parse_select(value: &str, schema: &Schema) -> Result<Vec<&'static str>, GraphError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| canonical(schema.selectable, name).ok_or_else(|| no_property(schema, name)))
        .collect()
}

/// Every `$orderby` property must lead the `$filter`, in the same order (Exchange's rule).
fn check_efficiency(query: &Query) -> Result<(), GraphError> {
    if query.filter.is_empty() || query.orderby.is_empty() {
        return Ok(());
    }
    let leading_ok = query.orderby.len() <= query.filter.len()
        && query
            .orderby
            .iter()
            .zip(&query.filter)
            .all(|((order_prop, _), clause)| *order_prop == clause.prop);
    if leading_ok {
        Ok(())
    } else {
        Err(GraphError::inefficient_filter())
    }
}

fn parse_orderby(value: &str, schema: &Schema) -> Result<Vec<(&'static str, bool)>, GraphError> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = part.split_whitespace();
        let name = words.next().unwrap_or_default();
        let (prop, _) = filter_prop(schema, name).ok_or_else(|| no_property(schema, name))?;
        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(GraphError::bad_request(format!(
                    "Syntax error at position {}: unexpected '{other}' in $orderby.",
                    name.len() + 1
                )));
            }
        };
        out.push((prop, desc));
    }
    Ok(out)
}

fn parse_expand(value: &str, schema: &Schema) -> Result<Vec<String>, GraphError> {
    let compact: String = value.trim().to_string();
    let prefix = "singlevalueextendedproperties(";
    let lower = compact.to_ascii_lowercase();
    if !schema.selectable.contains(&"singleValueExtendedProperties")
        || !lower.starts_with(prefix)
        || !lower.ends_with(')')
    {
        let name = compact.split('(').next().unwrap_or_default();
        return Err(GraphError::bad_request(format!(
            "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
            schema.type_name
        )));
    }
    let inner = &compact[prefix.len()..compact.len() - 1];
    let Some(filter) = inner
        .trim()
        .strip_prefix("$filter=")
        .or_else(|| inner.trim().strip_prefix("$filter ="))
    else {
        return Err(GraphError::bad_request(
            "Parsing OData Select and Expand failed: singleValueExtendedProperties needs a $filter on id.",
        ));
    };
    let mut ids = Vec::new();
    for clause in split_and(filter, " or ")? {
        let tokens = tokenize(&clause)?;
        match tokens.as_slice() {
            [prop, op, Token::Quoted(id)]
                if matches!(prop, Token::Word(w) if w.eq_ignore_ascii_case("id"))
                    && matches!(op, Token::Word(w) if w.eq_ignore_ascii_case("eq")) =>
            {
                ids.push(id.clone())
            }
            _ => return Err(GraphError::bad_request("Invalid filter clause")),
        }
    }
    Ok(ids)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

/// Splits on whitespace outside single quotes; `''` inside quotes is an escaped quote.
fn tokenize(input: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => text.push(ch),
                    None => {
                        return Err(GraphError::bad_request(
                            "Invalid filter clause: unterminated string literal.",
                        ));
                    }
                }
            }
            tokens.push(Token::Quoted(text));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '\'' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

/// Splits a filter on a keyword (` and `) outside quoted literals.
fn split_and(input: &str, keyword: &str) -> Result<Vec<String>, GraphError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let lower = input.to_ascii_lowercase();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let ch = input[i..].chars().next().unwrap_or(' ');
        if ch == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && lower[i..].starts_with(keyword) {
            parts.push(std::mem::take(&mut current));
            i += keyword.len();
            continue;
        }
        current.push(ch);
        i += ch.len_utf8();
    }
    parts.push(current);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(GraphError::bad_request("Invalid filter clause"));
    }
    Ok(parts)
}

pub fn parse_filter(value: &str, schema: &Schema) -> Result<Vec<Clause>, GraphError> {
    let mut clauses = Vec::new();
    for part in split_and(value, " and ")? {
        let tokens = tokenize(&part)?;
        let [Token::Word(name), Token::Word(op), literal] = tokens.as_slice() else {
            return Err(GraphError::bad_request("Invalid filter clause"));
        };
        let (prop, ty) = filter_prop(schema, name).ok_or_else(|| no_property(schema, name))?;
        let op = Op::parse(op).ok_or_else(|| GraphError::bad_request("Invalid filter clause"))?;
        let value = match (ty, literal) {
            (PropType::Bool, Token::Word(w)) if w.eq_ignore_ascii_case("true") => {
                Literal::Bool(true)
            }
            (PropType::Bool, Token::Word(w)) if w.eq_ignore_ascii_case("false") => {
                Literal::Bool(false)
            }
            (PropType::DateTime, Token::Word(w)) => {
                Literal::DateTime(OffsetDateTime::parse(w, &Rfc3339).map_err(|_| {
                    GraphError::bad_request(format!(
                        "The DateTimeOffset text '{w}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."
                    ))
                })?)
            }
            (PropType::Text, Token::Quoted(s)) => Literal::Text(s.clone()),
            _ => {
                return Err(GraphError::bad_request(format!(
                    "A binary operator with incompatible types was detected in the filter on '{prop}'."
                )));
            }
        };
        clauses.push(Clause { prop, op, value });
    }
    Ok(clauses)
}

/// Percent-encodes a query value the way Graph's own links look (keeping `$`, quotes, parens).
pub fn encode_component(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'(),:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Rebuilds a query string from pairs, e.g. for a nextLink.
pub fn build_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The decoded pairs of a raw query, minus the named option.
pub fn pairs_without(raw: Option<&str>, drop: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.eq_ignore_ascii_case(drop))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The answer to a collection GET: `@odata.context`, `@odata.count` when asked, one page of
/// `value`, and a `$skip` nextLink (on the host and path the client used, with its raw query
/// `raw`) while more remain.
pub fn collection_page(
    ctx: &super::request::RequestCtx,
    raw: Option<&str>,
    context: &str,
    query: &Query,
    total: usize,
    top: usize,
    page: Vec<serde_json::Value>,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "@odata.context": format!("{}/v1.0/$metadata#{context}", ctx.base_url),
    });
    if query.count {
        body["@odata.count"] = serde_json::json!(total);
    }
    body["value"] = serde_json::Value::Array(page);
    if query.skip + top < total {
        body["@odata.nextLink"] = serde_json::json!(link_with(
            &ctx.base_url,
            &ctx.path,
            raw,
            "$skip",
            &(query.skip + top).to_string(),
        ));
    }
    body
}

/// An absolute link to the same resource with one option replaced (or added).
pub fn link_with(base: &str, path: &str, raw: Option<&str>, option: &str, value: &str) -> String {
    let mut pairs = pairs_without(raw, option);
    pairs.push((option.to_string(), value.to_string()));
    format!("{base}{path}?{}", build_query(&pairs))
}
