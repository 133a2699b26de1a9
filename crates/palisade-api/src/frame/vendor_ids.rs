//! The id codecs of every vendor face, in the frame so that any face can name an object the way
//! another face shows it (the native flow check lists each deciding rule's ids on every face)
//! without one face importing another. Each face reaches its own as `ids`.

pub mod defined;
pub mod hostway;
pub mod katapult;
pub mod zstack;
