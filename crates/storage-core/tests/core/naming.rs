//! Naming, checked case by case against Django's own tests (`tests/file_storage`, `tests/utils_tests/test_text.py`)
//! and django-storages' `get_available_overwrite_name` tests. Each row is `input → expected`.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use storage_core::name::{AvailableNames, UploadTo, generate_filename, get_valid_name, storage_generate_filename};
use storage_core::{ErrorKind, validate_key};

/// What Django answers: a name, or `SuspiciousFileOperation` quoting a string.
#[derive(Debug)]
enum Expect {
    Name(&'static str),
    /// "Could not derive file name from '…'"
    CannotDerive(&'static str),
    /// "Detected path traversal attempt in '…'"
    Traversal(&'static str),
}

#[track_caller]
fn check(result: storage_core::Result<String>, expect: Expect) {
    match (result, expect) {
        (Ok(name), Expect::Name(expected)) => assert_eq!(name, expected),
        (Err(err), Expect::CannotDerive(quoted)) if err.kind() == storage_core::ErrorKind::InvalidName => {
            assert_eq!(err.key(), Some(quoted));
            assert!(err.message().is_some_and(|reason| reason.contains("could not derive")), "{err}");
        }
        (Err(err), Expect::Traversal(quoted)) if err.kind() == storage_core::ErrorKind::InvalidName => {
            assert_eq!(err.key(), Some(quoted));
            assert!(err.message().is_some_and(|reason| reason.contains("traversal")), "{err}");
        }
        (result, expect) => panic!("expected {expect:?}, got {result:?}"),
    }
}

/// A name Django would produce with `get_alternative_name`: `root_XXXXXXX.ext`.
#[track_caller]
fn assert_alternative(name: &str, root: &str, ext: &str) {
    let random = name
        .strip_prefix(&format!("{root}_"))
        .and_then(|rest| rest.strip_suffix(ext))
        .unwrap_or_else(|| panic!("{name} is not {root}_XXXXXXX{ext}"));
    assert!(random.len() == 7 && random.bytes().all(|b| b.is_ascii_alphanumeric()), "{name}");
}

/// Django's `get_available_name` loop over a set of existing names.
fn available(existing: &[&str], name: &str, max_length: Option<usize>) -> storage_core::Result<String> {
    let existing: BTreeSet<&str> = existing.iter().copied().collect();
    let mut names = AvailableNames::new(name, max_length)?;
    loop {
        let candidate = names.next_candidate()?;
        if !existing.contains(candidate.as_str()) {
            return Ok(candidate);
        }
    }
}

#[test]
fn get_valid_name_like_get_valid_filename() {
    use Expect::*;
    let rows = [
        ("john's portrait in 2004.jpg", Name("johns_portrait_in_2004.jpg")),
        ("  padded name.txt  ", Name("padded_name.txt")),
        ("héllo wörld.txt", Name("héllo_wörld.txt")),
        ("a/b\\c.txt", Name("abc.txt")),
        ("semi;colon<>.html", Name("semicolon.html")),
        ("???", CannotDerive("???")),
        ("$.$.$", CannotDerive("$.$.$")),
        ("..", CannotDerive("..")),
        (".", CannotDerive(".")),
        ("", CannotDerive("")),
    ];
    for (input, expect) in rows {
        check(get_valid_name(input), expect);
    }
}

#[test]
fn storage_dangerous_paths() {
    // Django: test_storage_dangerous_paths — get_available_name and generate_filename both refuse.
    let rows = [
        ("/tmp/..", ".."),
        ("\\tmp\\..", ".."),
        ("/tmp/.", "."),
        ("\\tmp\\.", "."),
        ("..", ".."),
        (".", "."),
        ("", ""),
    ];
    for (input, quoted) in rows {
        check(available(&[], input, None), Expect::CannotDerive(quoted));
        check(storage_generate_filename(input), Expect::CannotDerive(quoted));
    }
}

#[test]
fn storage_dangerous_paths_dir_name() {
    // Django: test_storage_dangerous_paths_dir_name.
    let rows = [
        ("../path", ".."),
        ("..\\path", ".."),
        ("tmp/../path", "tmp/.."),
        ("tmp\\..\\path", "tmp/.."),
        ("/tmp/../path", "/tmp/.."),
        ("\\tmp\\..\\path", "/tmp/.."),
    ];
    for (input, quoted) in rows {
        check(available(&[], input, None), Expect::Traversal(quoted));
        check(storage_generate_filename(input), Expect::Traversal(quoted));
    }
}

#[test]
fn filefield_generate_filename() {
    use Expect::*;
    let now = Utc.with_ymd_and_hms(2024, 2, 29, 13, 5, 9).unwrap();
    let folder = UploadTo::from("some/folder/");
    let rows = [
        // test_filefield_generate_filename
        ("test with space.txt", Name("some/folder/test_with_space.txt")),
        // test_filefield_dangerous_filename
        ("..", CannotDerive("some/folder/..")),
        (".", CannotDerive("some/folder/.")),
        ("", CannotDerive("some/folder/")),
        ("???", CannotDerive("???")),
        ("$.$.$", CannotDerive("$.$.$")),
        // test_filefield_dangerous_filename_dot_segments
        ("../path", Traversal("some/folder/../path")),
        // test_filefield_generate_filename_absolute_path
        ("/tmp/path", Traversal("/tmp/path")),
        ("/tmp/../path", Traversal("/tmp/../path")),
    ];
    for (input, expect) in rows {
        check(generate_filename(&folder, input, now), expect);
    }
}

#[test]
fn filefield_generate_filename_with_strftime() {
    let now = Utc.with_ymd_and_hms(2024, 2, 29, 13, 5, 9).unwrap();
    let dated = UploadTo::from("uploads/%Y/%m/%d/");
    check(generate_filename(&dated, "my photo.jpg", now), Expect::Name("uploads/2024/02/29/my_photo.jpg"));
    let err = generate_filename(&UploadTo::from("bad/%Q/"), "x.txt", now).expect_err("unknown field");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn filefield_generate_filename_with_callable() {
    let now = Utc::now();
    // test_filefield_generate_filename_with_upload_to
    let prefixed = UploadTo::function(|name| format!("some/folder/{name}"));
    check(generate_filename(&prefixed, "test with space.txt", now), Expect::Name("some/folder/test_with_space.txt"));

    // test_filefield_generate_filename_upload_to_overrides_dangerous_filename
    let fixed = UploadTo::function(|_| "test.txt".to_owned());
    for input in [
        "/tmp/.",
        "/tmp/..",
        "/tmp/../path",
        "/tmp/path",
        "some/folder/",
        "some/folder/.",
        "some/folder/..",
        "some/folder/???",
        "some/folder/$.$.$",
        "some/../test.txt",
        "",
    ] {
        check(generate_filename(&fixed, input, now), Expect::Name("test.txt"));
    }

    // test_filefield_generate_filename_upload_to_absolute_path
    let absolute = UploadTo::function(|name| format!("/tmp/{name}"));
    for (input, quoted) in [
        ("path", "/tmp/path"),
        ("tmp/path", "/tmp/tmp/path"),
        ("some/folder/???", "/tmp/some/folder/???"),
        ("some/../test.txt", "/tmp/some/../test.txt"),
    ] {
        check(generate_filename(&absolute, input, now), Expect::Traversal(quoted));
    }
    // test_filefield_generate_filename_upload_to_dangerous_filename
    for (input, quoted) in [("..", "/tmp/.."), (".", "/tmp/."), ("", "/tmp/")] {
        check(generate_filename(&absolute, input, now), Expect::CannotDerive(quoted));
    }
}

#[test]
fn duplicate_names_get_seven_random_characters() {
    // test_duplicate_filename
    let taken = ["tests/multiple_files.txt"];
    assert_eq!(available(&[], "tests/multiple_files.txt", None).unwrap(), "tests/multiple_files.txt");
    assert_alternative(&available(&taken, "tests/multiple_files.txt", None).unwrap(), "tests/multiple_files", ".txt");
    // test_first_character_dot: a leading dot is not an extension
    assert_alternative(&available(&["dotted.path/.test"], "dotted.path/.test", None).unwrap(), "dotted.path/.test", "");
    // test_directory_with_dot: a dot in the directory is not an extension
    assert_alternative(&available(&["dotted.path/test"], "dotted.path/test", None).unwrap(), "dotted.path/test", "");
    // every suffix counts as the extension (pathlib's `suffixes`)
    assert_alternative(&available(&["a.tar.gz"], "a.tar.gz", None).unwrap(), "a", ".tar.gz");
    // a trailing dot has no suffix
    assert_alternative(&available(&["name."], "name.", None).unwrap(), "name.", "");
}

#[test]
fn alternatives_are_random() {
    let names: BTreeSet<String> = (0..200).map(|_| available(&["x.txt"], "x.txt", None).unwrap()).collect();
    assert_eq!(names.len(), 200, "seven random alphanumerics do not repeat in 200 draws");
}

#[test]
fn truncation_to_max_length() {
    // test_file_truncation: max_length 20
    assert_eq!(available(&[], "tests/filename.ext", Some(20)).unwrap(), "tests/filename.ext");
    let truncated = available(&["tests/filename.ext"], "tests/filename.ext", Some(20)).unwrap();
    assert_alternative(&truncated, "tests/fi", ".ext");
    let err = available(&["tests/short.longext"], "tests/short.longext", Some(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert!(err.to_string().contains("max_length"), "{err}");
    // a free name that is too long is truncated too
    assert_alternative(&available(&[], "tests/a-very-long-filename.ext", Some(20)).unwrap(), "tests/a-", ".ext");
    // lengths are characters, as in Python
    let unicode = available(&["ü/ääääääää.txt"], "ü/ääääääää.txt", Some(16)).unwrap();
    assert_alternative(&unicode, "ü/ää", ".txt");
    assert_eq!(unicode.chars().count(), 16);
}

#[test]
fn overwrite_names_are_truncated_without_randomness() {
    // django-storages: get_available_overwrite_name
    let name = "parent/child.txt";
    let truncated = |max: usize| AvailableNames::new(name, Some(max)).unwrap().truncated_original();
    assert_eq!(truncated(name.len()).unwrap(), name);
    assert_eq!(truncated(name.len() - 1).unwrap(), "parent/chil.txt");
    assert_eq!(truncated(name.len() - 4).unwrap(), "parent/c.txt");
    assert_eq!(truncated(name.len() - 5).unwrap_err().kind(), ErrorKind::InvalidName);
}

#[test]
fn keys_are_validated_without_rewriting() {
    for valid in ["a", "a/b/c.txt", "with space.txt", "ünï/日本.txt", "#%+?&=.txt", "...", "a/.hidden", "a..b"] {
        assert!(validate_key(valid).is_ok(), "{valid:?} is valid");
    }
    let invalid = [
        ("", "empty"),
        ("/abs", "absolute"),
        ("a\\b", "backslash"),
        ("a\0b", "control"),
        ("a\nb", "control"),
        ("a//b", "empty path segment"),
        ("dir/", "empty path segment"),
        ("./a", "`.`"),
        ("a/..", "`..`"),
    ];
    for (name, reason) in invalid {
        let err = validate_key(name).expect_err(name);
        assert_eq!(err.kind(), ErrorKind::InvalidName);
        let message = err.to_string();
        assert!(message.contains(&format!("{name:?}")) && message.contains(reason), "{message}");
    }
    assert!(validate_key(&"x".repeat(1024)).is_ok());
    assert!(validate_key(&"x".repeat(1025)).is_err());
}
