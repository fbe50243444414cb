namespace Tomalign.Core.Backend;

/// <summary>
/// Batched correlation of every view with one small square template (bead detection):
/// output[z][y][x] = Σ_{j,i} template[j][i] · view_z[clamp(y + j − h)][clamp(x + i − h)], h = size/2
/// (size odd; coordinates clamped to the view). Every output element is written.
/// Implementations: managed (Tomalign.Cpu, the oracle) and ILGPU (Tomalign.Gpu).
/// </summary>
public interface ITemplateCorrelator
{
    void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output);
}

/// <summary>Argument checks shared by both implementations.</summary>
public static class TemplateCorrelationArguments
{
    public static void Validate(int viewsLength, int nx, int ny, int nz, int templateLength, int size, int outputLength)
    {
        if (nx < 1 || ny < 1 || nz < 1) throw new ArgumentOutOfRangeException(nameof(nx), $"bad stack size {nx}×{ny}×{nz}");
        if (size < 1 || size % 2 == 0) throw new ArgumentException($"the template size must be odd, got {size}");
        if (templateLength != size * size) throw new ArgumentException($"template holds {templateLength} values, {size}×{size} needed");
        if (viewsLength != (long)nx * ny * nz || outputLength != (long)nx * ny * nz)
            throw new ArgumentException($"views ({viewsLength}) and output ({outputLength}) must hold {nx}×{ny}×{nz} floats");
    }
}
