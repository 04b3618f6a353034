//! [`write_package`]: a local package directory, as `add ./libs/pkg` and `add -e` take.

use std::fs;
use std::path::Path;

/// Package `name` 0.1 in `dir`: `{name}.py` holding `WHERE = text`, with an in-tree backend
/// that builds wheels and PEP 660 editables itself (`requires = []`: no index needed).
pub fn write_package(dir: &Path, name: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n\
         [project]\nname = \"NAME\"\nversion = \"0.1\"\n"
            .replace("NAME", name),
    )
    .unwrap();
    fs::write(
        dir.join("backend.py"),
        r#"NAME = "localpkg"
import base64, hashlib, os, zipfile
DIST = f"{NAME}-0.1"
META = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: 0.1\n"
HERE = os.path.dirname(os.path.abspath(__file__))
def _wheel(wheel_directory, files):
    name = f"{DIST}-py3-none-any.whl"
    files = dict(files)
    files[f"{DIST}.dist-info/METADATA"] = META
    files[f"{DIST}.dist-info/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(f"{DIST}.dist-info/RECORD,,")
        z.writestr(f"{DIST}.dist-info/RECORD", "\n".join(record) + "\n")
    return name
def get_requires_for_build_wheel(config_settings=None):
    return []
def get_requires_for_build_editable(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {f"{NAME}.py": open(os.path.join(HERE, f"{NAME}.py")).read()})
def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {f"_{NAME}_editable.pth": HERE + "\n"})
"#
        .replace("\"localpkg\"", &format!("{name:?}")),
    )
    .unwrap();
    fs::write(
        dir.join(format!("{name}.py")),
        format!("WHERE = {text:?}\n"),
    )
    .unwrap();
}
