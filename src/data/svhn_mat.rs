//! A minimal reader for MATLAB level-5 .mat files (uncompressed `miMATRIX` elements and
//! zlib-compressed `miCOMPRESSED` ones, either byte order), enough for SVHN's
//! train_32x32.mat / test_32x32.mat: X is 32x32x3xN uint8 in column-major order
//! (X[row, col, channel, image]), y is Nx1 double where 10 stands for digit 0 (stored as 0).

use super::{limits, DataError, Split, PLANE, SIDE};
use crate::files::At;
use std::path::Path;

const MI_INT8: u32 = 1;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MX_UINT8: u8 = 9;
const MX_CLASS_NAMES: [&str; 16] = [
    "unknown", "cell", "struct", "object", "char", "sparse", "double", "single", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64",
];

/// One numeric MATLAB variable: class, dimensions, and the raw real-part bytes with their type.
#[derive(Debug, Clone)]
pub struct MatVar {
    pub name: String,
    pub class: u8,
    pub complex: bool,
    pub dims: Vec<usize>,
    pub data_type: u32,
    pub data: Vec<u8>,
    big_endian: bool,
}

impl MatVar {
    pub fn class_name(&self) -> &'static str {
        MX_CLASS_NAMES.get(self.class as usize).copied().unwrap_or("unknown")
    }

    /// The real part converted to f64 (any numeric storage type).
    pub fn as_f64(&self) -> Option<Vec<f64>> {
        let be = self.big_endian;
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                self.data
                    .chunks_exact($n)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                        (if be { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
                    })
                    .collect()
            };
        }
        Some(match self.data_type {
            1 => self.data.iter().map(|&b| b as i8 as f64).collect(),
            2 => self.data.iter().map(|&b| b as f64).collect(),
            3 => conv!(i16, 2),
            4 => conv!(u16, 2),
            5 => conv!(i32, 4),
            6 => conv!(u32, 4),
            7 => conv!(f32, 4),
            9 => conv!(f64, 8),
            12 => conv!(i64, 8),
            13 => conv!(u64, 8),
            _ => return None,
        })
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    be: bool,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, detail: String) -> DataError {
        DataError::Mat { path: self.path.to_path_buf(), offset: self.base + self.pos, detail }
    }
    fn u32_at(&self, o: usize) -> u32 {
        let a = [self.buf[o], self.buf[o + 1], self.buf[o + 2], self.buf[o + 3]];
        if self.be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    /// Reads one element tag and returns (type, data); `pad` skips to the next 8-byte boundary.
    fn element(&mut self, pad: bool) -> Result<(u32, &'a [u8]), DataError> {
        if self.pos + 8 > self.buf.len() {
            return Err(self.err(format!("element tag needs 8 bytes, {} left", self.buf.len() - self.pos)));
        }
        let first = self.u32_at(self.pos);
        if first >> 16 != 0 {
            // small data element: length (high 16 bits) and type packed in 4 bytes, data in the next 4
            let (ty, n) = (first & 0xffff, first >> 16);
            if n > 4 {
                return Err(self.err(format!("small element claims {n} bytes")));
            }
            let d = &self.buf[self.pos + 4..self.pos + 4 + n as usize];
            self.pos += 8;
            return Ok((ty, d));
        }
        let n = self.u32_at(self.pos + 4) as usize;
        let start = self.pos + 8;
        if n > self.buf.len() - start {
            return Err(self.err(format!(
                "element of type {first} claims {n} bytes, {} left (truncated file?)",
                self.buf.len() - start
            )));
        }
        self.pos = start + n;
        if pad {
            self.pos = self.pos.div_ceil(8) * 8;
            self.pos = self.pos.min(self.buf.len());
        }
        Ok((first, &self.buf[start..start + n]))
    }
}

fn parse_matrix(body: &[u8], base: usize, be: bool, path: &Path) -> Result<MatVar, DataError> {
    let mut c = Cursor { buf: body, pos: 0, base, be, path };
    let (ty, flags) = c.element(true)?;
    if ty != MI_UINT32 || flags.len() < 8 {
        return Err(c.err("array flags missing".into()));
    }
    let f = Cursor { buf: flags, pos: 0, base, be, path }.u32_at(0);
    let class = (f & 0xff) as u8;
    let complex = f & 0x800 != 0;
    if (1..=5).contains(&class) {
        // cell, struct, object, char, sparse: keep name and class only (for error messages)
        let (_, _dims) = c.element(true)?;
        let (_, name) = c.element(true)?;
        let name = String::from_utf8_lossy(name).into_owned();
        return Ok(MatVar { name, class, complex, dims: vec![], data_type: 0, data: vec![], big_endian: be });
    }
    let (ty, dims) = c.element(true)?;
    if ty != MI_INT32 || dims.len() % 4 != 0 {
        return Err(c.err("dimensions missing".into()));
    }
    let dc = Cursor { buf: dims, pos: 0, base, be, path };
    let dims: Vec<usize> = (0..dims.len() / 4).map(|i| dc.u32_at(4 * i) as usize).collect();
    let (ty, name) = c.element(true)?;
    if ty != MI_INT8 {
        return Err(c.err("array name missing".into()));
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let (data_type, data) = c.element(true)?;
    Ok(MatVar { name, class, complex, dims, data_type, data: data.to_vec(), big_endian: be })
}

/// Reads every top-level variable of a level-5 MAT file.
pub fn read_mat(path: &Path) -> Result<Vec<MatVar>, DataError> {
    let bytes = std::fs::read(path).at(path)?;
    parse_mat(&bytes, path)
}

/// Parses the bytes of a level-5 MAT file.
pub fn parse_mat(bytes: &[u8], path: &Path) -> Result<Vec<MatVar>, DataError> {
    let err = |offset: usize, detail: String| DataError::Mat { path: path.to_path_buf(), offset, detail };
    if bytes.len() < 128 {
        return Err(err(0, format!("{} bytes is shorter than the 128-byte header", bytes.len())));
    }
    if bytes.starts_with(b"MATLAB 7.3") {
        return Err(err(0, "MATLAB 7.3 (HDF5) files are not supported".into()));
    }
    let be = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => return Err(err(126, format!("endian indicator {other:?} is not IM/MI (not a level-5 MAT file)"))),
    };
    let mut c = Cursor { buf: bytes, pos: 128, base: 0, be, path };
    let mut vars = Vec::new();
    while c.pos < bytes.len() {
        let at = c.pos;
        let (ty, data) = c.element(false)?;
        match ty {
            MI_MATRIX => vars.push(parse_matrix(data, at + 8, be, path)?),
            MI_COMPRESSED => {
                let z = flate2::read::ZlibDecoder::new(data);
                let out = match limits::read_bounded(z, limits::MAX_FILE_BYTES, path, "a compressed element") {
                    Ok(out) => out,
                    Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<limits::OverLimit>()) {
                        Some(over) => return Err(over.to_error()),
                        None => return Err(err(at, format!("compressed element does not inflate: {e}"))),
                    },
                };
                let mut inner = Cursor { buf: &out, pos: 0, base: at, be, path };
                let (ity, idata) = inner.element(false)?;
                if ity == MI_MATRIX {
                    vars.push(parse_matrix(idata, at, be, path)?);
                }
            }
            _ => {}
        }
    }
    Ok(vars)
}

/// Builds a 3-channel split from SVHN's X and y variables.
pub fn svhn_split(vars: &[MatVar], path: &Path) -> Result<Split, DataError> {
    let get = |v: &str| {
        vars.iter()
            .find(|m| m.name == v)
            .ok_or_else(|| DataError::MatMissing { path: path.to_path_buf(), var: v.into() })
    };
    let bad = |var: &str, detail: String| DataError::MatVariable { path: path.to_path_buf(), var: var.into(), detail };
    let x = get("X")?;
    if x.class != MX_UINT8 || x.complex || x.data_type != 2 {
        return Err(bad("X", format!("class {} (storage type {}), expected real uint8", x.class_name(), x.data_type)));
    }
    if x.dims.len() != 4 || x.dims[..3] != [SIDE, SIDE, 3] {
        return Err(bad("X", format!("shape {:?}, expected [32, 32, 3, N]", x.dims)));
    }
    let n = x.dims[3];
    if x.data.len() != n * 3 * PLANE {
        return Err(bad("X", format!("{} data bytes for shape {:?}", x.data.len(), x.dims)));
    }
    let y = get("y")?;
    let vals = if (6..=15).contains(&y.class) && !y.complex { y.as_f64() } else { None };
    let vals = vals.ok_or_else(|| bad("y", format!("class {}, expected a real numeric array", y.class_name())))?;
    if y.dims.len() != 2 || y.dims.iter().product::<usize>() != n || y.dims.iter().all(|&d| d != 1) || vals.len() != n {
        return Err(bad("y", format!("shape {:?}, expected [{n}, 1]", y.dims)));
    }
    let mut labels = Vec::with_capacity(n);
    for (i, &v) in vals.iter().enumerate() {
        if v.fract() != 0.0 || !(1.0..=10.0).contains(&v) {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                key: "y".into(),
                index: i,
                label: v as i64,
                classes: 10,
            });
        }
        labels.push((v as u8) % 10);
    }
    // column-major X[r, c, ch, i] at r + 32c + 1024ch + 3072i  ->  CHW out[i][ch][r][c]
    let mut images = vec![0u8; n * 3 * PLANE];
    for (src, dst) in x.data.chunks_exact(3 * PLANE).zip(images.chunks_exact_mut(3 * PLANE)) {
        for ch in 0..3 {
            let s = &src[ch * PLANE..(ch + 1) * PLANE];
            let d = &mut dst[ch * PLANE..(ch + 1) * PLANE];
            for r in 0..SIDE {
                for c in 0..SIDE {
                    d[r * SIDE + c] = s[r + SIDE * c];
                }
            }
        }
    }
    Ok(Split { images, labels, n })
}

/// Reads an SVHN .mat file into a split.
pub fn load_svhn_mat(path: &Path) -> Result<Split, DataError> {
    svhn_split(&read_mat(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fx(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    #[test]
    fn scipy_fixtures_plain_and_compressed() {
        for f in ["svhn_tiny.mat", "svhn_tiny_z.mat"] {
            let s = load_svhn_mat(&fx(f)).unwrap();
            assert_eq!(s.n, 5);
            assert_eq!(s.labels, vec![0, 1, 2, 9, 0], "{f}");
            for i in 0..5 {
                for ch in 0..3 {
                    for (r, c) in [(0, 0), (1, 0), (0, 1), (5, 17), (31, 30)] {
                        let want = ((7 * r + 3 * c + 50 * ch + 11 * i) % 256) as u8;
                        assert_eq!(s.image(i, 3)[ch * PLANE + r * SIDE + c], want, "{f} img {i} ch {ch} ({r},{c})");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_variables() {
        let e = load_svhn_mat(&fx("svhn_bad_class.mat")).unwrap_err();
        assert!(
            matches!(&e, DataError::MatVariable { var, .. } if var == "X") && e.to_string().contains("double"),
            "{e}"
        );
        let e = load_svhn_mat(&fx("svhn_bad_shape.mat")).unwrap_err();
        assert!(
            matches!(&e, DataError::MatVariable { var, .. } if var == "X") && e.to_string().contains("shape"),
            "{e}"
        );
        let e = load_svhn_mat(&fx("svhn_missing_y.mat")).unwrap_err();
        assert!(matches!(&e, DataError::MatMissing { var, .. } if var == "y"), "{e}");
        let e = load_svhn_mat(&fx("svhn_bad_label.mat")).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { index: 2, label: 11, .. }), "{e}");
        let e = load_svhn_mat(&fx("svhn_y_is_text.mat")).unwrap_err();
        assert!(
            matches!(&e, DataError::MatVariable { var, .. } if var == "y") && e.to_string().contains("char"),
            "{e}"
        );
    }

    #[test]
    fn truncated_and_garbage() {
        let full = std::fs::read(fx("svhn_tiny.mat")).unwrap();
        for cut in [0, 100, 130, 200, full.len() - 10] {
            assert!(matches!(parse_mat(&full[..cut], Path::new("t.mat")), Err(DataError::Mat { .. })), "cut {cut}");
        }
        let z = std::fs::read(fx("svhn_tiny_z.mat")).unwrap();
        assert!(parse_mat(&z[..z.len() - 50], Path::new("t.mat")).is_err());
        let mut bad = full.clone();
        bad[126] = b'X';
        assert!(parse_mat(&bad, Path::new("t.mat")).is_err());
    }
}
