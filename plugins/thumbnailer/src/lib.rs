//! thumbnailer (extension point `content_transform`; capabilities `io`): a
//! PNG thumbnail of a PNG or JPEG image.
//!
//! - **Input**: `image/png` or `image/jpeg`, whose first bytes must be that
//!   format's signature.
//! - **Output**: `image/png`, 8 bits per channel, with the metadata `width`
//!   and `height` (the thumbnail's) and `source_width` and `source_height`
//!   (the source's, as displayed: after its orientation).
//! - **Size**: the largest size that fits in `max_width` × `max_height` and
//!   keeps the aspect ratio, at least 1 pixel a side; an image that already
//!   fits keeps its size (never upscaled). Shrinking by half or more
//!   averages blocks of source pixels (fast, and every pixel counts);
//!   shrinking less uses a triangle (bilinear) filter.
//! - **Orientation**: an Exif orientation (JPEG APP1, PNG `eXIf`) is
//!   applied, so a 2×1 image tagged "rotate 90°" becomes 1×2. The box is
//!   judged on the displayed size; the pixels are turned after resizing,
//!   which gives the same thumbnail without a full-size copy.
//! - **Bounds**: the dimensions are read from the header before any pixel
//!   is decoded; over 40 megapixels, or over 16384 pixels a side, the image
//!   is refused. The decoder is bounded too (16384 pixels a side, 256 MiB of
//!   decoded pixels). The install's memory limit must still allow the
//!   decoded image (4 bytes a pixel for 8-bit RGBA).
//!
//! Parameters (`request.parameters`; others are ignored):
//! - `max_width`, `max_height`: whole numbers from 1 to 2048 (default 256).
//!
//! Plugin errors:
//! - 50: the media type is not `image/png` or `image/jpeg`.
//! - 51: the content is not of its declared media type.
//! - 52: a parameter is not a whole number from 1 to 2048 (named).
//! - 53: the image is too large (its dimensions named).
//! - 54: the content does not decode (truncated or corrupt), with the
//!   decoder's message; a JPEG must reach its end-of-image marker.
//! - 55: the thumbnail does not encode (not expected).

use std::io::Cursor;

use bitvault_pdk::Error;
use bitvault_pdk::points::ContentTransform;
use bitvault_pdk::points::proto::content_transform::v1::{TransformRequest, TransformResponse};
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::{PngDecoder, PngEncoder};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, Limits};

/// The plugin.
pub struct Thumbnailer;

/// The default `max_width` and `max_height`.
pub const DEFAULT_SIDE: u32 = 256;
/// The largest `max_width` and `max_height`.
pub const MAX_PARAMETER: u32 = 2048;
/// The most pixels a source image may have.
pub const MAX_PIXELS: u64 = 40_000_000;
/// The longest side a source image may have.
pub const MAX_SIDE: u32 = 16384;
/// The most bytes of decoded pixels.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;

const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
const JPEG_SIGNATURE: &[u8] = &[0xff, 0xd8, 0xff];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
}

impl Format {
    fn of_media_type(media_type: &str) -> Option<Format> {
        match media_type {
            "image/png" => Some(Format::Png),
            "image/jpeg" => Some(Format::Jpeg),
            _ => None,
        }
    }

    fn of_content(content: &[u8]) -> Option<Format> {
        if content.starts_with(PNG_SIGNATURE) {
            Some(Format::Png)
        } else if content.starts_with(JPEG_SIGNATURE) {
            Some(Format::Jpeg)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
        }
    }
}

/// A size parameter: absent is the default, else 1 to [`MAX_PARAMETER`].
fn side(req: &TransformRequest, name: &str) -> Result<u32, Error> {
    let Some(value) = req.parameters.get(name) else {
        return Ok(DEFAULT_SIDE);
    };
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PARAMETER).contains(n))
        .ok_or_else(|| {
            Error::new(
                52,
                format!(
                    "parameter `{name}` = `{value}`: expected a whole number from 1 to {MAX_PARAMETER}"
                ),
            )
        })
}

/// The size of `width` × `height` scaled to fit in `max_width` ×
/// `max_height`, keeping the aspect ratio (rounded, at least 1), never
/// enlarged.
pub fn fit(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    if width <= max_width && height <= max_height {
        return (width, height);
    }
    let (w, h, mw, mh) = (
        u64::from(width),
        u64::from(height),
        u64::from(max_width),
        u64::from(max_height),
    );
    // Scaled by mw / w when that is the smaller factor, else by mh / h.
    // The rounded side never exceeds its bound, which is a whole number.
    let (tw, th) = if mw * h <= mh * w {
        (mw, (h * mw + w / 2) / w)
    } else {
        ((w * mh + h / 2) / h, mh)
    };
    (tw.max(1) as u32, th.max(1) as u32)
}

/// The decoder's bounds: [`MAX_SIDE`] a side and [`MAX_ALLOC`] bytes.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

fn too_large(width: u32, height: u32, why: impl std::fmt::Display) -> Error {
    Error::new(53, format!("the image is {width}x{height}: {why}"))
}

fn undecodable(format: Format, e: &ImageError) -> Error {
    Error::new(54, format!("the {} does not decode: {e}", format.name()))
}

/// Whether a JPEG reaches its end-of-image marker: the decoder fills a
/// scan cut short with grey instead of failing, so truncation is found
/// here. Walks the marker segments and the entropy-coded data (where a
/// 0xFF byte is followed by 0x00 or a restart marker) from after SOI;
/// bytes after EOI are ignored.
fn jpeg_is_complete(data: &[u8]) -> bool {
    let mut i = 2;
    while i + 1 < data.len() {
        if data[i] != 0xff {
            // Out of step (corrupt): look for the next marker.
            i += 1;
            continue;
        }
        let marker = data[i + 1];
        match marker {
            0xd9 => return true,
            // Fill bytes, and markers without a length.
            0xff => i += 1,
            0x01 | 0xd0..=0xd7 => i += 2,
            _ => {
                let Some(length) = data.get(i + 2..i + 4) else {
                    return false;
                };
                i += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                if marker == 0xda {
                    // Entropy-coded data, up to a 0xFF that is not a
                    // stuffed byte (0xFF00) or a restart marker.
                    while i + 1 < data.len()
                        && (data[i] != 0xff || matches!(data[i + 1], 0x00 | 0xd0..=0xd7))
                    {
                        i += 1;
                    }
                }
            }
        }
    }
    false
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// A thumbnail in `max_width` × `max_height`, with the source's displayed
/// size, from a decoder that has read only the header.
fn thumbnail(
    mut decoder: impl ImageDecoder,
    format: Format,
    max_width: u32,
    max_height: u32,
) -> Result<(DynamicImage, (u32, u32)), Error> {
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(too_large(
            width,
            height,
            format_args!(
                "{pixels} pixels is over the limit of {} megapixels",
                MAX_PIXELS / 1_000_000
            ),
        ));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_large(
            width,
            height,
            format_args!("a side is over the limit of {MAX_SIDE} pixels"),
        ));
    }
    let mut limits = limits();
    limits
        .reserve(decoder.total_bytes())
        .map_err(|e| too_large(width, height, e))?;
    decoder
        .set_limits(limits)
        .map_err(|e| too_large(width, height, e))?;
    let orientation = decoder.orientation().map_err(|e| undecodable(format, &e))?;
    let source = if swaps_axes(orientation) {
        (height, width)
    } else {
        (width, height)
    };

    let image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => too_large(width, height, e),
        e => undecodable(format, &e),
    })?;
    let (tw, th) = fit(source.0, source.1, max_width, max_height);
    let (rw, rh) = if swaps_axes(orientation) {
        (th, tw)
    } else {
        (tw, th)
    };
    let mut thumb = if (rw, rh) == (width, height) {
        image
    } else if rw.saturating_mul(2) <= width && rh.saturating_mul(2) <= height {
        // Each thumbnail pixel averages a block of 2x2 or more.
        image.thumbnail_exact(rw, rh)
    } else {
        image.resize_exact(rw, rh, FilterType::Triangle)
    };
    thumb.apply_orientation(orientation);
    Ok((eight_bit(thumb), source))
}

/// The image with 8 bits per channel, keeping grey and alpha.
fn eight_bit(image: DynamicImage) -> DynamicImage {
    let color = image.color();
    if color.bytes_per_pixel() == color.channel_count() {
        return image;
    }
    match (color.has_color(), color.has_alpha()) {
        (false, false) => image.to_luma8().into(),
        (false, true) => image.to_luma_alpha8().into(),
        (true, false) => image.to_rgb8().into(),
        (true, true) => image.to_rgba8().into(),
    }
}

impl ContentTransform for Thumbnailer {
    fn transform(req: TransformRequest) -> Result<TransformResponse, Error> {
        let Some(format) = Format::of_media_type(&req.media_type) else {
            return Err(Error::new(
                50,
                format!(
                    "cannot thumbnail {}; image/png and image/jpeg only",
                    req.media_type
                ),
            ));
        };
        let actual = Format::of_content(&req.content);
        if actual != Some(format) {
            let is = actual.map_or("neither PNG nor JPEG", Format::name);
            return Err(Error::new(
                51,
                format!("the content is declared {} but is {is}", req.media_type),
            ));
        }
        let max_width = side(&req, "max_width")?;
        let max_height = side(&req, "max_height")?;

        let input = Cursor::new(req.content.as_slice());
        let (thumb, (source_width, source_height)) = match format {
            Format::Png => {
                // Sides are checked after reading the header, so that an
                // oversized image is refused naming its dimensions.
                let mut header_limits = limits();
                header_limits.max_image_width = None;
                header_limits.max_image_height = None;
                let decoder = PngDecoder::with_limits(input, header_limits)
                    .map_err(|e| undecodable(format, &e))?;
                thumbnail(decoder, format, max_width, max_height)?
            }
            Format::Jpeg => {
                let decoder = JpegDecoder::new(input).map_err(|e| undecodable(format, &e))?;
                if !jpeg_is_complete(&req.content) {
                    return Err(Error::new(
                        54,
                        "the JPEG does not decode: the data ends before the end-of-image marker",
                    ));
                }
                thumbnail(decoder, format, max_width, max_height)?
            }
        };

        let mut content = Vec::new();
        thumb
            .write_with_encoder(PngEncoder::new(&mut content))
            .map_err(|e| Error::new(55, format!("cannot encode the thumbnail: {e}")))?;
        let metadata = [
            ("width", thumb.width()),
            ("height", thumb.height()),
            ("source_width", source_width),
            ("source_height", source_height),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Ok(TransformResponse {
            content,
            media_type: "image/png".into(),
            metadata,
        })
    }
}

bitvault_pdk::export_content_transform!(Thumbnailer);

#[cfg(test)]
mod tests {
    use super::*;
    use bitvault_pdk::points::call;
    use bitvault_pdk::testing::{Host, Outcome};
    use image::codecs::jpeg::JpegEncoder;
    use image::{ImageFormat, Rgb, RgbImage};

    /// A `width` × `height` gradient.
    fn picture(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    fn png(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image.write_with_encoder(PngEncoder::new(&mut out)).unwrap();
        out
    }

    fn jpeg(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 95))
            .unwrap();
        out
    }

    fn transform(
        content: Vec<u8>,
        media_type: &str,
        parameters: &[(&str, &str)],
    ) -> Result<TransformResponse, Box<Outcome>> {
        let request = TransformRequest {
            content,
            media_type: media_type.into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        call(Host::new(), Thumbnailer::transform, &request)
    }

    /// The thumbnail, checked against its metadata: (width, height,
    /// source_width, source_height) and the decoded image.
    fn thumb(reply: &TransformResponse) -> ((u32, u32, u32, u32), DynamicImage) {
        assert_eq!(reply.media_type, "image/png");
        let image = image::load_from_memory_with_format(&reply.content, ImageFormat::Png).unwrap();
        let meta = |k: &str| reply.metadata[k].parse::<u32>().unwrap();
        let sizes = (
            meta("width"),
            meta("height"),
            meta("source_width"),
            meta("source_height"),
        );
        assert_eq!((image.width(), image.height()), (sizes.0, sizes.1));
        (sizes, image)
    }

    /// The code and message of a refused call.
    fn refused(result: Result<TransformResponse, Box<Outcome>>) -> (i32, String) {
        let out = result.expect_err("the call should fail");
        (out.code, out.error.unwrap_or_default())
    }

    #[test]
    fn png_and_jpeg_become_png_thumbnails_keeping_the_aspect_ratio() {
        let source = picture(1000, 500);
        let reply = transform(png(&source), "image/png", &[]).unwrap();
        assert_eq!(thumb(&reply).0, (256, 128, 1000, 500));
        let reply = transform(jpeg(&source), "image/jpeg", &[]).unwrap();
        let (sizes, image) = thumb(&reply);
        assert_eq!(sizes, (256, 128, 1000, 500));
        // The gradient survives: dark on the left, bright on the right.
        let red = |x| image.to_rgb8().get_pixel(x, 64).0[0];
        assert!(red(2) < 20 && red(253) > 235, "{} {}", red(2), red(253));

        let tall = transform(png(&picture(300, 900)), "image/png", &[]).unwrap();
        assert_eq!(thumb(&tall).0, (85, 256, 300, 900));
    }

    #[test]
    fn an_image_within_the_box_keeps_its_size() {
        let reply = transform(png(&picture(100, 40)), "image/png", &[]).unwrap();
        assert_eq!(thumb(&reply).0, (100, 40, 100, 40));
        let reply = transform(jpeg(&picture(256, 256)), "image/jpeg", &[]).unwrap();
        assert_eq!(thumb(&reply).0, (256, 256, 256, 256));
    }

    #[test]
    fn max_width_and_max_height_set_the_box() {
        let source = png(&picture(1000, 500));
        let reply = transform(
            source.clone(),
            "image/png",
            &[("max_width", "100"), ("max_height", "300")],
        )
        .unwrap();
        assert_eq!(thumb(&reply).0, (100, 50, 1000, 500));
        let reply = transform(source.clone(), "image/png", &[("max_height", "64")]).unwrap();
        assert_eq!(thumb(&reply).0, (128, 64, 1000, 500));
        let reply = transform(source, "image/png", &[("max_width", " 2048 ")]).unwrap();
        assert_eq!(thumb(&reply).0, (512, 256, 1000, 500));
        // A side never shrinks below one pixel.
        let reply = transform(png(&picture(2000, 1)), "image/png", &[]).unwrap();
        assert_eq!(thumb(&reply).0, (256, 1, 2000, 1));
    }

    #[test]
    fn fit_rounds_within_the_box() {
        assert_eq!(fit(1000, 500, 256, 256), (256, 128));
        assert_eq!(fit(300, 900, 256, 256), (85, 256));
        assert_eq!(fit(10, 10, 256, 256), (10, 10));
        assert_eq!(fit(1, 5000, 256, 256), (1, 256));
        assert_eq!(fit(999, 1000, 1, 1), (1, 1));
        assert_eq!(fit(16384, 2441, 2048, 2048), (2048, 305));
    }

    #[test]
    fn an_invalid_parameter_is_refused_by_name() {
        let source = png(&picture(10, 10));
        for (name, value) in [
            ("max_width", "0"),
            ("max_height", "2049"),
            ("max_width", "-1"),
            ("max_height", "wide"),
            ("max_width", ""),
        ] {
            let (code, message) = refused(transform(source.clone(), "image/png", &[(name, value)]));
            assert_eq!(code, 52, "{name}={value}");
            assert!(
                message.contains(&format!("`{name}` = `{value}`")),
                "{message}"
            );
        }
    }

    #[test]
    fn content_must_match_its_media_type() {
        let (code, message) = refused(transform(png(&picture(4, 4)), "image/jpeg", &[]));
        assert_eq!(code, 51);
        assert_eq!(message, "the content is declared image/jpeg but is PNG");
        let (code, message) = refused(transform(jpeg(&picture(4, 4)), "image/png", &[]));
        assert_eq!(
            (code, message.ends_with("is JPEG")),
            (51, true),
            "{message}"
        );
        let (code, message) = refused(transform(b"GIF89a...".to_vec(), "image/png", &[]));
        assert_eq!(
            (code, message.ends_with("neither PNG nor JPEG")),
            (51, true)
        );
        let (code, _) = refused(transform(Vec::new(), "image/jpeg", &[]));
        assert_eq!(code, 51);
    }

    #[test]
    fn other_media_types_are_refused() {
        for media_type in ["image/gif", "image/PNG", "image/png; q=1", ""] {
            let (code, message) = refused(transform(png(&picture(4, 4)), media_type, &[]));
            assert_eq!(code, 50);
            assert_eq!(
                message,
                format!("cannot thumbnail {media_type}; image/png and image/jpeg only")
            );
        }
    }

    /// CRC-32 (ISO-HDLC), as PNG chunks use.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A small PNG whose header declares `width` × `height`.
    fn png_declaring(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(&picture(8, 8));
        // Signature (8), IHDR length (4), `IHDR` (4), width, height, 5
        // more bytes, CRC over the type and data.
        assert_eq!(&bytes[12..16], b"IHDR");
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn decompression_bombs_are_refused_before_decoding() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let started = std::time::Instant::now();
        let (code, message) = refused(transform(png_declaring(100_000, 100_000), "image/png", &[]));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(code, 53, "{message}");
        assert!(
            message.contains("100000x100000") && message.contains("40 megapixels"),
            "{message}"
        );
        // Few pixels, but a side past the decoder's bound.
        let (code, message) = refused(transform(png_declaring(20_000, 10), "image/png", &[]));
        assert_eq!(code, 53, "{message}");
        assert!(message.contains("20000x10"), "{message}");
        // A JPEG whose frame header (SOF0) declares 60000x60000.
        let mut bytes = jpeg(&picture(8, 8));
        let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        bytes[sof + 5..sof + 9].copy_from_slice(&[0xea, 0x60, 0xea, 0x60]);
        let (code, message) = refused(transform(bytes, "image/jpeg", &[]));
        assert_eq!(code, 53, "{message}");
        assert!(message.contains("60000x60000"), "{message}");
    }

    #[test]
    fn truncated_or_corrupt_content_is_refused() {
        let whole = png(&picture(300, 200));
        let (code, message) = refused(transform(
            whole[..whole.len() / 2].to_vec(),
            "image/png",
            &[],
        ));
        assert_eq!(code, 54, "{message}");
        assert!(
            message.starts_with("the PNG does not decode: "),
            "{message}"
        );
        let (code, message) = refused(transform(whole[..20].to_vec(), "image/png", &[]));
        assert_eq!(code, 54, "{message}");

        let whole = jpeg(&picture(300, 200));
        for cut in [100, whole.len() / 2, whole.len() - 1] {
            let (code, message) = refused(transform(whole[..cut].to_vec(), "image/jpeg", &[]));
            assert_eq!(code, 54, "{message}");
            assert!(
                message.starts_with("the JPEG does not decode: "),
                "{message}"
            );
        }
        // Bytes after the end-of-image marker are ignored.
        let mut padded = whole;
        padded.extend_from_slice(&[0xff, 0xda, 0, 0, 0xff]);
        assert!(transform(padded, "image/jpeg", &[]).is_ok());
    }

    /// `jpeg` with an Exif APP1 segment carrying `orientation`, after SOI.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\x00\x2a"); // big-endian TIFF
        tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 offset
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry:
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation,
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT,
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count 1,
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padding
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let length = (2 + 6 + tiff.len()) as u16;
        let mut out = jpeg[..2].to_vec(); // SOI
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(&tiff);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        // Red on the left half, blue on the right.
        let source = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        // 6: rotate 90° clockwise to display, so the left half is on top.
        let reply = transform(with_orientation(&jpeg(&source), 6), "image/jpeg", &[]).unwrap();
        let (sizes, image) = thumb(&reply);
        assert_eq!(sizes, (20, 40, 20, 40));
        let top = image.to_rgb8().get_pixel(10, 5).0;
        let bottom = image.to_rgb8().get_pixel(10, 35).0;
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");

        let tiny = with_orientation(&jpeg(&picture(2, 1)), 6);
        let reply = transform(tiny, "image/jpeg", &[]).unwrap();
        assert_eq!(thumb(&reply).0, (1, 2, 1, 2));

        // The box applies to the displayed size.
        let wide = with_orientation(&jpeg(&picture(1000, 500)), 6);
        let reply = transform(wide, "image/jpeg", &[("max_height", "100")]).unwrap();
        assert_eq!(thumb(&reply).0, (50, 100, 500, 1000));
        // 1 (the default) and 3 (180°) keep the axes.
        let reply = transform(with_orientation(&jpeg(&source), 3), "image/jpeg", &[]).unwrap();
        let (sizes, image) = thumb(&reply);
        assert_eq!(sizes, (40, 20, 40, 20));
        assert!(image.to_rgb8().get_pixel(5, 10).0[2] > 200);
    }
}
