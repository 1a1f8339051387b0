//! Options from a JavaScript object, spelled as the core's [`OPTION_NAMES`] say (camelCase in
//! Node). Spellings of earlier releases still work and are reported as deprecations.

use kafka_trace::lifecycle::OPTION_NAMES;
use kafka_trace::span::{ClientInfo, Options, Strategy, TopicFilter};
use napi::bindgen_prelude::*;
use napi::ValueType;

use crate::errors::invalid_option;

/// Earlier Node spellings, by the option's snake_case name (the snake_case spelling itself is
/// accepted for every option too).
const OLD_SPELLINGS: [(&str, &[&str]); 2] = [("bootstrap_servers", &["brokers"]), ("consumer_group", &["groupId"])];

/// What an options object configures.
pub struct Parsed {
    pub options: Options,
    pub client: ClientInfo,
    /// `old spelling -> current spelling`, one entry per deprecated spelling used.
    pub deprecations: Vec<(String, String)>,
}

fn lookup<'a>(obj: &Object<'a>, snake: &str, camel: &str, deprecations: &mut Vec<(String, String)>) -> Result<Option<Unknown<'a>>> {
    let mut names: Vec<&str> = vec![camel];
    if snake != camel {
        names.push(snake);
    }
    if let Some((_, old)) = OLD_SPELLINGS.iter().find(|(s, _)| *s == snake) {
        names.extend_from_slice(old);
    }
    for (i, name) in names.iter().enumerate() {
        let Some(value) = obj.get::<Unknown<'a>>(name)? else { continue };
        if matches!(value.get_type()?, ValueType::Undefined | ValueType::Null) {
            continue;
        }
        if i > 0 {
            deprecations.push(((*name).to_owned(), camel.to_owned()));
        }
        return Ok(Some(value));
    }
    Ok(None)
}

fn string(value: &Unknown<'_>, name: &str) -> Result<String> {
    match value.get_type()? {
        ValueType::String => String::from_unknown(*value),
        _ => Err(invalid_option(format!("option {name} must be a string"))),
    }
}

fn strings(value: &Unknown<'_>, name: &str) -> Result<Vec<String>> {
    if value.is_array()? {
        Vec::<String>::from_unknown(*value).map_err(|_| invalid_option(format!("option {name} must be a list of strings")))
    } else {
        Ok(vec![string(value, name)?])
    }
}

fn boolean(value: &Unknown<'_>, name: &str) -> Result<bool> {
    match value.get_type()? {
        ValueType::Boolean => bool::from_unknown(*value),
        _ => Err(invalid_option(format!("option {name} must be a boolean"))),
    }
}

/// Reads every option of [`OPTION_NAMES`] from `obj` (absent = the core's default).
pub fn parse(obj: Option<Object<'_>>) -> Result<Parsed> {
    let mut options = Options::default();
    let mut client = ClientInfo::default();
    let mut deprecations = Vec::new();
    let Some(obj) = obj else { return Ok(Parsed { options, client, deprecations }) };
    let mut topics = TopicFilter::default();
    for name in OPTION_NAMES {
        let Some(value) = lookup(&obj, name.snake, name.camel, &mut deprecations)? else { continue };
        let camel = name.camel;
        match name.snake {
            "strategy" => {
                let s = string(&value, camel)?;
                options.strategy = Strategy::parse(&s).ok_or_else(|| invalid_option(format!("unknown strategy {s:?} (parent or link)")))?;
            }
            "record_message_key" => options.record_message_key = boolean(&value, camel)?,
            "record_body_size" => options.record_body_size = boolean(&value, camel)?,
            "include_topics" => topics.include = strings(&value, camel)?,
            "exclude_topics" => topics.exclude = strings(&value, camel)?,
            "client_id" => client.client_id = Some(string(&value, camel)?),
            "consumer_group" => client.consumer_group = Some(string(&value, camel)?),
            "bootstrap_servers" => client = client.with_bootstrap(&strings(&value, camel)?.join(",")),
            other => return Err(invalid_option(format!("option {other} is not known to this binding"))),
        }
    }
    options.topics = topics;
    Ok(Parsed { options, client, deprecations })
}
