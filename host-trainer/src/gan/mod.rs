//! A class-conditional Wasserstein GAN with gradient penalty (WGAN-GP) that draws new
//! Fashion-MNIST images: the networks ([`model`]), the critic objective ([`penalty`]), the
//! training loop ([`training`]), sample quality measured with our classifiers ([`quality`]),
//! and the `gan sample` / `gan quality` commands ([`report`]).

pub mod losses_plot;
pub mod model;
pub mod penalty;
pub mod quality;
pub mod report;
pub mod training;
