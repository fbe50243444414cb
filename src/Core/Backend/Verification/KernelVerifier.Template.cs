namespace Tomalign.Core.Backend.Verification;

public static partial class KernelVerifier
{
    /// <summary>A sum of up to a few hundred float products in the same order on both sides: 1e-5 of the peak.</summary>
    public const double TemplateTolerance = 1e-5;

    /// <summary>
    /// Batched template correlation of random views (non-square, odd height) with a random odd-sized
    /// template, GPU against the managed twin; the output is NaN-filled first so unwritten elements fail.
    /// </summary>
    public static VerifyResult VerifyTemplateCorrelation(IComputeBackend gpu, IComputeBackend cpu, int nx, int ny, int nz, int size, Random random)
    {
        var views = new float[(long)nx * ny * nz];
        for (long k = 0; k < views.LongLength; k++) views[k] = (float)(random.NextDouble() * 2 - 1);
        var template = new float[size * size];
        for (int k = 0; k < template.Length; k++) template[k] = (float)(random.NextDouble() * 2 - 1);
        var expected = new float[views.Length];
        var actual = new float[views.Length];
        Array.Fill(actual, float.NaN);
        cpu.TemplateCorrelator.Correlate(views, nx, ny, nz, template, size, expected);
        gpu.TemplateCorrelator.Correlate(views, nx, ny, nz, template, size, actual);
        bool written = !actual.Any(float.IsNaN);
        double error = MaxRelativeError(actual, expected);
        return new VerifyResult("template", $"{nx}×{ny}×{nz}, template {size}²", error, TemplateTolerance, written, written && error <= TemplateTolerance);
    }
}
