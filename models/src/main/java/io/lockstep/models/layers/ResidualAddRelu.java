package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.inputs.InvalidInputTypeException;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The end of a residual block, {@code relu(a + b)}, as one graph vertex ({@link ResidualAddReluVertex}):
 * the same results as DL4J's {@code ElementWiseVertex(Add)} followed by a ReLU layer, in one pass over
 * memory forward and one backward where the pair takes three and four. Element-wise, so it serves NCHW
 * and NHWC activations alike; no parameters. The JSON carries this class's name and nothing else.
 */
public class ResidualAddRelu extends GraphVertex {
    private static final long serialVersionUID = 1L;

    /** For JSON. */
    public ResidualAddRelu() {
    }

    @Override
    public ResidualAddRelu clone() {
        return new ResidualAddRelu();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ResidualAddRelu;
    }

    @Override
    public int hashCode() {
        return ResidualAddRelu.class.hashCode();
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return 2;
    }

    @Override
    public int maxVertexInputs() {
        return 2;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(ComputationGraph graph, String name, int idx,
                                                                      INDArray paramsView, boolean initializeParams,
                                                                      DataType networkDatatype) {
        return new ResidualAddReluVertex(graph, name, idx, networkDatatype);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) throws InvalidInputTypeException {
        if (vertexInputs.length != 2) {
            throw new InvalidInputTypeException("a residual sum takes 2 inputs, got " + vertexInputs.length);
        }
        if (!Arrays.equals(vertexInputs[0].getShape(), vertexInputs[1].getShape())) {
            throw new InvalidInputTypeException("a residual sum adds inputs of one shape, got " + vertexInputs[0]
                    + " and " + vertexInputs[1]);
        }
        return vertexInputs[0];
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        InputType output = getOutputType(-1, inputTypes);
        return new LayerMemoryReport.Builder(null, ResidualAddRelu.class, inputTypes[0], output)
                .standardMemory(0, 0)
                .workingMemory(0, 0, 0, 0)
                .cacheMemory(0, 0)
                .build();
    }

    @Override
    public String toString() {
        return "ResidualAddRelu()";
    }
}
