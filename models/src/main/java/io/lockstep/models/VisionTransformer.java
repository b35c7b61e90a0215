package io.lockstep.models;

import io.lockstep.models.layers.ClassTokenPositionEmbedding;
import io.lockstep.models.layers.ClassTokenSelect;
import io.lockstep.models.layers.MultiHeadSelfAttention;
import io.lockstep.models.layers.TokenLayerNorm;
import io.lockstep.models.layers.TokenMlp;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * The Vision Transformer (Dosovitskiy et al. 2021) exactly as torchvision defines it
 * ({@code torchvision.models.vit_b_16} and siblings): a {@code patch x patch} convolution with stride
 * {@code patch} embeds the image ({@code conv_proj}); the class token is prepended and learned position
 * embeddings added; {@code layers} pre-norm encoder blocks follow, each
 * {@code x + attention(ln_1(x))} then {@code x + mlp(ln_2(x))} with LayerNorm eps 1e-6, multi-head
 * self-attention as {@code torch.nn.MultiheadAttention}, and an MLP with exact (erf) GELU; a final
 * LayerNorm; the class token's features go to the linear head. No dropout (torchvision's default).
 * Trainable parameters at 3x224x224 and 1000 classes equal torchvision's (vit_b_16 86,567,656).
 *
 * <p>{@code vit_small} is a small ViT for 28x28 and 32x32 images (patch 4, 6 layers, 4 heads, width
 * 192, MLP 384) that trains on a CPU.
 *
 * <p>Input sizes: any image of at least one patch; the position embeddings are sized from the number of
 * patches, and pixels beyond the last whole patch are ignored (as a stride-{@code patch} convolution
 * does). The normalization option does not apply (LayerNorm is part of the design).
 */
public final class VisionTransformer implements Architecture {
    private static final double LAYER_NORM_EPS = 1e-6;

    private final String name;
    private final int patch;
    private final int layers;
    private final int heads;
    private final int width;
    private final int mlp;
    private final InputShape defaultInput;
    private final int defaultClasses;

    private VisionTransformer(String name, int patch, int layers, int heads, int width, int mlp, InputShape defaultInput,
                              int defaultClasses) {
        this.name = name;
        this.patch = patch;
        this.layers = layers;
        this.heads = heads;
        this.width = width;
        this.mlp = mlp;
        this.defaultInput = defaultInput;
        this.defaultClasses = defaultClasses;
    }

    private static VisionTransformer imagenet(String name, int patch, int layers, int heads, int width, int mlp) {
        return new VisionTransformer(name, patch, layers, heads, width, mlp, new InputShape(3, 224, 224), 1000);
    }

    static VisionTransformer vitB16() {
        return imagenet("vit_b_16", 16, 12, 12, 768, 3072);
    }

    static VisionTransformer vitB32() {
        return imagenet("vit_b_32", 32, 12, 12, 768, 3072);
    }

    static VisionTransformer vitL16() {
        return imagenet("vit_l_16", 16, 24, 16, 1024, 4096);
    }

    static VisionTransformer vitL32() {
        return imagenet("vit_l_32", 32, 24, 16, 1024, 4096);
    }

    static VisionTransformer vitH14() {
        return imagenet("vit_h_14", 14, 32, 16, 1280, 5120);
    }

    static VisionTransformer vitSmall() {
        return new VisionTransformer("vit_small", 4, 6, 4, 192, 384, new InputShape(3, 32, 32), 10);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "Vision Transformer, patch " + patch + ", " + layers + " layers, " + heads + " heads, width " + width
                + (defaultClasses == 1000 ? " (torchvision)" : ", for 28x28/32x32 images");
    }

    @Override
    public InputShape defaultInput() {
        return defaultInput;
    }

    @Override
    public int defaultClasses() {
        return defaultClasses;
    }

    @Override
    public int minimumSize() {
        return patch;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        Node x = b.conv("conv_proj", b.input(), width, patch, patch, 0, true, Activation.IDENTITY);
        int tokens = x.height() * x.width() + 1;
        x = b.tokenLayer("embedding", new ClassTokenPositionEmbedding(width, x.height(), x.width()), x, width, tokens);
        double decay = b.weightDecay();
        for (int i = 0; i < layers; i++) {
            String block = "encoder_layer_" + i;
            Node y = b.tokenLayer(block + "_ln_1", new TokenLayerNorm(width, tokens, LAYER_NORM_EPS), x, width, tokens);
            y = b.tokenLayer(block + "_self_attention", new MultiHeadSelfAttention(width, tokens, heads, decay), y, width, tokens);
            x = b.add(block + "_residual_1", y, x);
            y = b.tokenLayer(block + "_ln_2", new TokenLayerNorm(width, tokens, LAYER_NORM_EPS), x, width, tokens);
            y = b.tokenLayer(block + "_mlp", new TokenMlp(width, tokens, mlp, decay), y, width, tokens);
            x = b.add(block + "_residual_2", y, x);
        }
        x = b.tokenLayer("encoder_ln", new TokenLayerNorm(width, tokens, LAYER_NORM_EPS), x, width, tokens);
        x = b.vectorLayer("class_token_features", new ClassTokenSelect(width, tokens), x, width);
        return b.finish(x, 0);
    }

    /** torchvision's names: {@code encoder.layers.encoder_layer_3.mlp}, {@code heads.head}, ... */
    @Override
    public String torchModule(String vertex) {
        if (vertex.equals(OUTPUT)) {
            return "heads.head";
        }
        if (vertex.equals("embedding")) {
            return ""; // class_token and encoder.pos_embedding: named in full by the layer
        }
        if (vertex.equals("encoder_ln")) {
            return "encoder.ln";
        }
        if (vertex.startsWith("encoder_layer_")) {
            String rest = vertex.substring("encoder_layer_".length()); // "3_ln_1"
            int cut = rest.indexOf('_');
            return "encoder.layers.encoder_layer_" + rest.substring(0, cut) + "." + rest.substring(cut + 1);
        }
        return vertex; // conv_proj
    }
}
