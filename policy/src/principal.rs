//! The `Principal` / `NotPrincipal` element: who a statement is about.

use crate::error::{PolicyError, reason};
use crate::json::Json;
use crate::{Directory, PrincipalName, Subject};

/// The principals a statement names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    pub any: bool,
    pub user_ids: Vec<Box<str>>,
    pub user_names: Vec<Box<str>>,
    pub groups: Vec<Box<str>>,
}

fn invalid() -> PolicyError {
    PolicyError::new(reason::PRINCIPAL)
}

/// This server's user ids: 16 lowercase hexadecimal digits.
fn is_user_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

impl Principals {
    /// Reads the element's value.
    pub(crate) fn parse(value: &Json, dir: &dyn Directory) -> Result<Principals, PolicyError> {
        let mut out = Principals::default();
        match value {
            Json::String(s) if s == "*" => out.any = true,
            Json::Object(members) if !members.is_empty() => {
                for (kind, names) in members {
                    let names = string_list(names)?;
                    for name in names {
                        match kind.as_str() {
                            "AWS" => out.add_aws(name, dir)?,
                            "CanonicalUser" => {
                                if !dir.exists(PrincipalName::UserId(name)) {
                                    return Err(invalid());
                                }
                                push_unique(&mut out.user_ids, name);
                            }
                            _ => return Err(invalid()),
                        }
                    }
                }
            }
            _ => return Err(invalid()),
        }
        Ok(out)
    }

    fn add_aws(&mut self, name: &str, dir: &dyn Directory) -> Result<(), PolicyError> {
        if name == "*" {
            self.any = true;
            return Ok(());
        }
        if has_wildcard(name) {
            return Err(invalid());
        }
        let Some(arn) = name.strip_prefix("arn:") else {
            return self.add_user(name, dir);
        };
        // arn:aws:iam::<account>:user/<path/>name  or  ...:group/<path/>name
        let parts: Vec<&str> = arn.splitn(5, ':').collect();
        let [partition, service, region, _account, resource] = parts[..] else {
            return Err(invalid());
        };
        if partition != "aws" || service != "iam" || !region.is_empty() {
            return Err(invalid());
        }
        let (kind, path) = resource.split_once('/').ok_or_else(invalid)?;
        let leaf = path.rsplit('/').next().unwrap_or_default();
        if leaf.is_empty() {
            return Err(invalid());
        }
        match kind {
            "user" => self.add_user(leaf, dir),
            "group" if dir.exists(PrincipalName::Group(leaf)) => {
                push_unique(&mut self.groups, leaf);
                Ok(())
            }
            _ => Err(invalid()),
        }
    }

    /// A user named by id (16 lowercase hex digits) or by name; an id that is not a user's id
    /// may still be a user's name.
    fn add_user(&mut self, name: &str, dir: &dyn Directory) -> Result<(), PolicyError> {
        if name.is_empty() {
            return Err(invalid());
        }
        if is_user_id(name) && dir.exists(PrincipalName::UserId(name)) {
            push_unique(&mut self.user_ids, name);
        } else if dir.exists(PrincipalName::UserName(name)) {
            push_unique(&mut self.user_names, name);
        } else {
            return Err(invalid());
        }
        Ok(())
    }

    /// Whether `subject` is one of the principals. An anonymous subject is only "*".
    #[inline]
    pub(crate) fn matches(&self, subject: &Subject<'_>) -> bool {
        if self.any {
            return true;
        }
        if subject.anonymous {
            return false;
        }
        self.user_ids.iter().any(|id| **id == *subject.user_id)
            || self.user_names.iter().any(|n| **n == *subject.user_name)
            || (!self.groups.is_empty()
                && subject
                    .groups
                    .iter()
                    .any(|g| self.groups.iter().any(|mine| **mine == **g)))
    }
}

fn push_unique(list: &mut Vec<Box<str>>, name: &str) {
    if !list.iter().any(|n| **n == *name) {
        list.push(name.into());
    }
}

/// A principal map's value: a string or a non-empty array of strings.
fn string_list(value: &Json) -> Result<Vec<&str>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.as_str()),
                _ => Err(invalid()),
            })
            .collect(),
        _ => Err(invalid()),
    }
}
