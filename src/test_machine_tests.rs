//! Tests of `crate::test_machine`, kept apart because the integration tests compile that file
//! too (and would run its tests in every test binary).

use crate::test_machine::find_pyenv_python_in;

#[test]
fn the_newest_patch_of_the_minor_with_an_interpreter() {
    let tmp = crate::test_machine::tempdir().unwrap();
    for (version, has_python) in [
        ("3.12.1", true),
        ("3.12.10", true),
        ("3.12.11", false),
        ("3.12-dev", true),
        ("3.12.9t", true),
        ("3.13.0", true),
    ] {
        let bin = tmp.path().join(version).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        if has_python {
            std::fs::write(bin.join("python3.12"), "").unwrap();
        }
    }
    let found = find_pyenv_python_in(tmp.path(), "3.12").unwrap();
    assert_eq!(found.version, "3.12.10");
    assert_eq!(found.python(), tmp.path().join("3.12.10/bin/python3.12"));
    assert!(find_pyenv_python_in(tmp.path(), "3.11").is_none());
    assert!(find_pyenv_python_in(&tmp.path().join("missing"), "3.12").is_none());
}
