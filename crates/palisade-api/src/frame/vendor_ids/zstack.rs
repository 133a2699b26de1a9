//! ZStack uuids: 32 lower-case hex digits, no hyphens.

/// The ZStack form of a 128-bit id.
pub fn render(bytes: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*bytes).simple().to_string()
}
