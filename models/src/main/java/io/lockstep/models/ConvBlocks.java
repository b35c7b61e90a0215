package io.lockstep.models;

import org.nd4j.linalg.activations.Activation;

/**
 * The convolution, normalization, activation sequences of the residual networks, honouring
 * {@link ModelOptions#normalization()}: with BatchNorm the convolution has no bias (the BatchNorm's
 * beta replaces it, as in torchvision and the ResNet paper); without, the convolution gets a bias
 * and the ReLU is fused into it.
 */
final class ConvBlocks {
    private ConvBlocks() {
    }

    static Node convNormRelu(NetworkBuilder b, String convName, String normName, String reluName, Node in,
                             int filters, int kernel, int stride, int padding) {
        if (!b.normalized()) {
            return b.conv(convName, in, filters, kernel, stride, padding, true, Activation.RELU);
        }
        Node x = b.conv(convName, in, filters, kernel, stride, padding, false, Activation.IDENTITY);
        return b.relu(reluName, b.norm(normName, x));
    }

    static Node convNorm(NetworkBuilder b, String convName, String normName, Node in,
                         int filters, int kernel, int stride, int padding) {
        if (!b.normalized()) {
            return b.conv(convName, in, filters, kernel, stride, padding, true, Activation.IDENTITY);
        }
        Node x = b.conv(convName, in, filters, kernel, stride, padding, false, Activation.IDENTITY);
        return b.norm(normName, x);
    }

    /**
     * torchvision's {@code BasicConv2d} (GoogLeNet, Inception-v3): convolution without bias, BatchNorm
     * with eps 1e-3, ReLU, as the vertices {@code <prefix>_conv}, {@code <prefix>_bn} and
     * {@code <prefix>_relu} (torchvision's {@code <prefix>.conv} and {@code <prefix>.bn}). Without
     * normalization: one convolution {@code <prefix>_conv} with bias and the ReLU fused.
     */
    static Node basicConv(NetworkBuilder b, String prefix, Node in, int filters, int kernelH, int kernelW, int stride,
                          int padH, int padW) {
        if (!b.normalized()) {
            return b.conv(prefix + "_conv", in, filters, kernelH, kernelW, stride, padH, padW, true, Activation.RELU);
        }
        Node x = b.conv(prefix + "_conv", in, filters, kernelH, kernelW, stride, padH, padW, false, Activation.IDENTITY);
        return b.relu(prefix + "_relu", b.norm(prefix + "_bn", x, BASIC_CONV_EPS));
    }

    /** {@link #basicConv} with a square window. */
    static Node basicConv(NetworkBuilder b, String prefix, Node in, int filters, int kernel, int stride, int padding) {
        return basicConv(b, prefix, in, filters, kernel, kernel, stride, padding, padding);
    }

    /** BatchNorm eps of torchvision's {@code BasicConv2d}. */
    static final double BASIC_CONV_EPS = 1e-3;
}
