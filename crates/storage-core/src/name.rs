//! Names: what a valid key is, and Django's naming rules (valid names, alternatives, truncation, `upload_to`).
//!
//! Two layers, as in Django. [`validate_key`] is the strict gate every operation passes: it never changes a name,
//! it only refuses keys that could escape a root or mean different things on different backends. The Django
//! functions ([`get_valid_name`], [`generate_filename`], [`AvailableNames`]) derive names from user input.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngExt;

use crate::error::{Error, Result};

/// The longest key accepted, in bytes (S3's limit, so a name valid here is valid everywhere).
pub const MAX_KEY_BYTES: usize = 1024;

/// Length of the random part Django appends to a taken name (`root_XXXXXXX.ext`).
pub const ALTERNATIVE_SUFFIX_LEN: usize = 7;

/// Refuse any key that is not a plain relative path of non-empty, non-dot segments.
///
/// The name is never rewritten: spaces, unicode, `#`, `%`, `+`, `?` and `&` are all kept as given.
pub fn validate_key(name: &str) -> Result<()> {
    let refuse = |reason: &str| Err(Error::invalid_name(name, reason));
    if name.is_empty() {
        return refuse("the name is empty; give a relative path such as `docs/report.pdf`");
    }
    if name.len() > MAX_KEY_BYTES {
        return refuse("the name is longer than 1024 bytes; shorten it");
    }
    if name.starts_with('/') {
        return refuse("the name is absolute; names are relative to the storage root, drop the leading `/`");
    }
    if name.contains('\\') {
        return refuse("the name contains a backslash; use `/` to separate directories");
    }
    if name.chars().any(char::is_control) {
        return refuse("the name contains a NUL or control character; remove it");
    }
    for segment in name.split('/') {
        match segment {
            "" => return refuse("the name has an empty path segment (`//` or a trailing `/`); remove it"),
            "." | ".." => return refuse("the name has a `.` or `..` segment; names cannot leave their directory"),
            _ => {}
        }
    }
    Ok(())
}

/// Django's `get_valid_filename`: Python's `str.strip()`, spaces to underscores, then `re.sub(r"(?u)[^-\w.]", "", s)`;
/// refuse what is left if it is empty, `.` or `..`.
///
/// Python's `\w` is a letter or number by general category (`L*`, `N*`) or `_`: combining marks (`Mn`, `Mc`, such as
/// Devanagari vowel signs or a decomposed accent) and symbols are removed even where Unicode calls them alphabetic.
/// For characters assigned since Unicode 14 (Python 3.11's tables), the newer tables here decide.
///
/// ```
/// use storage_core::name::get_valid_name;
/// assert_eq!(get_valid_name("  john's portrait in 2004.jpg").unwrap(), "johns_portrait_in_2004.jpg");
/// assert_eq!(get_valid_name("cafe\u{301}.txt").unwrap(), "cafe.txt"); // the combining accent goes, as in Django
/// assert!(get_valid_name("../").is_err());
/// ```
pub fn get_valid_name(name: &str) -> Result<String> {
    let valid: String = name
        .trim_matches(python_isspace)
        .chars()
        .map(|c| if c == ' ' { '_' } else { c })
        .filter(|c| python_is_word(*c) || matches!(c, '-' | '.'))
        .collect();
    if matches!(valid.as_str(), "" | "." | "..") {
        return Err(cannot_derive(name));
    }
    Ok(valid)
}

/// Python's `str.isspace`: general category `Zs` or bidirectional class `WS`, `B` or `S`. That is Unicode's
/// `White_Space` plus the four information separators U+001C to U+001F.
fn python_isspace(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}')
}

/// Python's `\w` on `str` patterns: `_` or `str.isalnum()`, which is general category `L*` or `N*`.
fn python_is_word(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    c == '_' || matches!(c.general_category_group(), GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number)
}

/// Django's `get_alternative_name`: `root_XXXXXXX.ext` with seven random ASCII alphanumerics.
pub fn get_alternative_name(file_root: &str, file_ext: &str) -> String {
    let suffix: String =
        rand::rng().sample_iter(rand::distr::Alphanumeric).take(ALTERNATIVE_SUFFIX_LEN).map(char::from).collect();
    format!("{file_root}_{suffix}{file_ext}")
}

/// The candidate names Django's `get_available_name` walks through, without its `exists()` check.
///
/// The first candidate is the name itself when it fits `max_length`; each later one is an alternative name, with
/// the root truncated (once, permanently, as Django does) so the result fits. The caller decides whether a
/// candidate is free — the storage does that with a create-only write, so no other writer can take it in between.
#[derive(Debug, Clone)]
pub struct AvailableNames {
    original: String,
    dir: String,
    root: String,
    ext: String,
    max_length: Option<usize>,
    tried_original: bool,
}

impl AvailableNames {
    /// Split `name` as Django does, refusing traversal in the directory and an underivable file name.
    pub fn new(name: &str, max_length: Option<usize>) -> Result<Self> {
        let name = name.replace('\\', "/");
        let (dir, file) = split_dir(&name);
        if dir.split('/').any(|part| part == "..") {
            return Err(traversal(dir));
        }
        if matches!(file, "" | "." | "..") {
            return Err(cannot_derive(file));
        }
        let ext = python_suffixes(file);
        let root = file[..file.len() - ext.len()].to_owned();
        Ok(Self {
            dir: dir.to_owned(),
            original: name.clone(),
            root,
            ext: ext.to_owned(),
            max_length,
            tried_original: false,
        })
    }

    /// The next name to try, or an error when no alternative can fit `max_length`.
    pub fn next_candidate(&mut self) -> Result<String> {
        if !self.tried_original {
            self.tried_original = true;
            if self.fits(&self.original) {
                return Ok(self.original.clone());
            }
        }
        let name = join(&self.dir, &get_alternative_name(&self.root, &self.ext));
        let Some(max_length) = self.max_length else {
            return Ok(name);
        };
        let excess = char_len(&name).saturating_sub(max_length);
        if excess == 0 {
            return Ok(name);
        }
        let keep = char_len(&self.root).saturating_sub(excess);
        self.root = self.root.chars().take(keep).collect();
        if self.root.is_empty() {
            return Err(Error::invalid_name(
                &name,
                format!(
                    "no available name fits in {max_length} characters; allow a longer max_length or shorten the name"
                ),
            ));
        }
        Ok(join(&self.dir, &get_alternative_name(&self.root, &self.ext)))
    }

    /// The name truncated to fit `max_length` without a random part (django-storages'
    /// `get_available_overwrite_name`), for storages that overwrite or fail instead of renaming.
    pub fn truncated_original(&self) -> Result<String> {
        let Some(max_length) = self.max_length.filter(|max| char_len(&self.original) > *max) else {
            return Ok(self.original.clone());
        };
        let excess = char_len(&self.original) - max_length;
        let keep = char_len(&self.root).saturating_sub(excess);
        let root: String = self.root.chars().take(keep).collect();
        if root.is_empty() {
            return Err(Error::invalid_name(
                &self.original,
                format!("the name cannot be truncated to {max_length} characters; allow a longer max_length"),
            ));
        }
        Ok(join(&self.dir, &format!("{root}{}", self.ext)))
    }

    /// Django tests `max_length and len(name) > max_length`: a `max_length` of 0 is falsy there, so it never makes
    /// the original name too long (though any alternative then is).
    fn fits(&self, name: &str) -> bool {
        self.max_length.is_none_or(|max| max == 0 || char_len(name) <= max)
    }
}

/// Where a derived name's directory comes from: a strftime template or a function of the original file name.
#[derive(Clone)]
pub enum UploadTo {
    /// A directory template with strftime fields, e.g. `uploads/%Y/%m/%d/`.
    Template(String),
    /// A function from the original file name to the full name (Django's callable `upload_to`).
    Function(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

impl std::fmt::Debug for UploadTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadTo::Template(template) => f.debug_tuple("Template").field(template).finish(),
            UploadTo::Function(_) => f.write_str("Function(..)"),
        }
    }
}

impl From<&str> for UploadTo {
    fn from(template: &str) -> Self {
        UploadTo::Template(template.to_owned())
    }
}

impl UploadTo {
    /// Django's callable `upload_to`: `f` maps the uploaded file's name to the full name.
    pub fn function(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        UploadTo::Function(Arc::new(f))
    }
}

/// Django's `FileField.generate_filename` followed by `Storage.generate_filename`, at time `now`.
pub fn generate_filename(upload_to: &UploadTo, filename: &str, now: DateTime<Utc>) -> Result<String> {
    let joined = match upload_to {
        UploadTo::Function(f) => f(filename),
        UploadTo::Template(template) => {
            let dir = strftime(template, now)?;
            posix_join(&dir, filename)
        }
    };
    validate_relative_path(&joined)?;
    storage_generate_filename(&joined)
}

/// Django's `validate_file_name(name, allow_relative_path=True)`.
fn validate_relative_path(name: &str) -> Result<()> {
    if matches!(split_dir(name).1, "" | "." | "..") {
        return Err(cannot_derive(name));
    }
    let posix = name.replace('\\', "/");
    if posix.starts_with('/') || posix.split('/').any(|part| part == "..") {
        return Err(traversal(name));
    }
    Ok(())
}

/// Django's `Storage.generate_filename`: a valid file name under a normalised directory.
pub fn storage_generate_filename(name: &str) -> Result<String> {
    let name = name.replace('\\', "/");
    let (dir, file) = split_dir(&name);
    if dir.split('/').any(|part| part == "..") {
        return Err(traversal(dir));
    }
    Ok(normalize(&join(dir, &get_valid_name(file)?)))
}

fn strftime(template: &str, now: DateTime<Utc>) -> Result<String> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(template).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(Error::invalid_argument(
            Some(template),
            "the upload_to template has an unknown strftime field; use fields such as %Y, %m, %d, %H",
        ));
    }
    Ok(now.format_with_items(items.into_iter()).to_string())
}

/// `posixpath.split`: everything up to the last slash, without its trailing slashes unless it is only slashes
/// (`//a` splits into `//` and `a`), and the rest.
fn split_dir(name: &str) -> (&str, &str) {
    let at = name.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = name.split_at(at);
    let only_slashes = head.bytes().all(|b| b == b'/');
    (if only_slashes { head } else { head.trim_end_matches('/') }, tail)
}

/// `os.path.join(dir, file)` for a relative file.
fn join(dir: &str, file: &str) -> String {
    match dir {
        "" => file.to_owned(),
        d if d.ends_with('/') => format!("{d}{file}"),
        d => format!("{d}/{file}"),
    }
}

/// `posixpath.join`: an absolute second part replaces the first.
fn posix_join(dir: &str, file: &str) -> String {
    if file.starts_with('/') { file.to_owned() } else { join(dir, file) }
}

/// `posixpath.normpath` for the paths reaching it (no `..` left): drop empty and `.` segments; keep one leading slash,
/// or two exactly when there are two (POSIX leaves `//` to the implementation; three or more mean one).
fn normalize(path: &str) -> String {
    let leading = match path.bytes().take_while(|b| *b == b'/').count() {
        0 => "",
        2 => "//",
        _ => "/",
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let joined = format!("{leading}{}", parts.join("/"));
    if joined.is_empty() { ".".to_owned() } else { joined }
}

/// `"".join(pathlib.PurePath(name).suffixes)` (Python 3.11–3.13 rules).
fn python_suffixes(file: &str) -> &str {
    if file.ends_with('.') {
        return "";
    }
    let stripped = file.trim_start_matches('.');
    match stripped.find('.') {
        Some(i) => &stripped[i..],
        None => "",
    }
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn cannot_derive(name: &str) -> Error {
    Error::invalid_name(name, "could not derive a file name from it; give a name with at least one letter or digit")
}

fn traversal(dir: &str) -> Error {
    Error::invalid_name(dir, "path traversal attempt; names cannot contain `..` or start with `/`")
}
