using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// How much device memory each GPU operation takes, as pure functions of the sizes and the device
/// budget: the components allocate exactly what these say (the tests compare the meter's peak with
/// them), so a plan checked here for a size the emulator cannot run is a check of what would be
/// allocated. Bytes include every buffer one call holds at once, the FFT's work buffers and tables.
/// The share of the device one operation may plan with is <see cref="DeviceChunking.UsableFraction"/>.
/// </summary>
public static class DeviceMemoryPlan
{
    /// <summary>A plan: units (views, pairs) per device chunk, the bytes one call holds at its peak, and whether one unit fits the budget.</summary>
    public readonly record struct Chunked(int PerChunk, long Bytes, long BudgetBytes)
    {
        public bool Fits => Bytes <= BudgetBytes;
    }

    /// <summary>The share of <paramref name="deviceBytes"/> one operation may take.</summary>
    public static long Budget(long deviceBytes) => (long)(deviceBytes * DeviceChunking.UsableFraction);

    /// <summary>The stack warp: per view the input and output images, its 6 inverse coefficients and its fill value.</summary>
    public static Chunked Warp(int nx, int ny, int nz, int nxo, int nyo, long deviceBytes)
    {
        long inView = (long)nx * ny, outView = (long)nxo * nyo;
        long perView = sizeof(float) * (inView + outView + WarpKernels.CoefficientsPerView + 1);
        int chunk = DeviceChunking.ViewsPerChunk(deviceBytes, perView, nz, elementsPerView: inView, maxElementsPerBuffer: int.MaxValue);
        return new Chunked(chunk, chunk * perView, Budget(deviceBytes));
    }

    /// <summary>Template correlation: per view the input and the score map; the template once.</summary>
    public static Chunked TemplateCorrelation(int nx, int ny, int nz, int templateSize, long deviceBytes)
    {
        long perView = (long)nx * ny, template = sizeof(float) * Math.Max(1L, (long)templateSize * templateSize);
        int chunk = DeviceChunking.ViewsPerChunk(deviceBytes, 2 * sizeof(float) * perView, nz, fixedBytes: template,
            elementsPerView: perView, maxElementsPerBuffer: int.MaxValue);
        return new Chunked(chunk, template + chunk * 2 * sizeof(float) * perView, Budget(deviceBytes));
    }

    /// <summary>
    /// Pair correlation of <paramref name="pairs"/> pairs of nx×ny views (<paramref name="viewFloats"/> floats uploaded once)
    /// in px×py frames: per pair 2 prepared frames, 2 half spectra, the cross-power product, the map, the row maxima and
    /// energies, and the FFT's work buffers for the forward transform of both images (the larger of the two transforms).
    /// </summary>
    public static Chunked PairCorrelation(long viewFloats, int nx, int ny, int px, int py, int pairs, long deviceBytes)
    {
        long frame = (long)px * py, half = 2L * Fft2DArguments.HalfWidth(px) * py;
        long fixedBytes = sizeof(float) * (Math.Max(1, viewFloats) + Fft2DArguments.HalfWidth(px) * (long)py + px + py)
                          + StockhamTwiddleBytes(px, py);
        long perPair = sizeof(int) * 2L + sizeof(float) * 2L * CorrelationKernels.ParametersPerImage
                       + sizeof(float) * (2 * frame + 2 * half + half + frame)
                       + sizeof(double) * 2L * py + (sizeof(float) + sizeof(int)) * (long)py + sizeof(float) * 3L
                       + StockhamWorkBytes(px, py, 2);
        long budget = Budget(deviceBytes);
        int chunk = (int)Math.Clamp((budget - fixedBytes) / perPair, 1, Math.Max(1, pairs));
        chunk = (int)Math.Max(1, Math.Min(chunk, int.MaxValue / (4 * frame)));
        return new Chunked(chunk, fixedBytes + chunk * perPair, budget);
    }

    /// <summary>An FFT on host buffers through the device (<see cref="Fft.GpuFft2D"/>): the real and spectrum buffers, work and tables.</summary>
    public static long HostFft(int nx, int ny, int batch) =>
        sizeof(float) * ((long)nx * ny * batch + Fft2DArguments.SpectrumLength(nx, ny, batch))
        + StockhamWorkBytes(nx, ny, batch) + StockhamTwiddleBytes(nx, ny);

    /// <summary>Backprojection of a slab: the projections, cos/sin/weights and the slab.</summary>
    public static long Backproject(SlabGeometry g) =>
        sizeof(float) * (Math.Max(1, g.ProjectionLength) + 3L * Math.Max(1, g.Views) + Math.Max(1, g.SlabLength));

    /// <summary>
    /// WBP of a slab with the row filter on the device: the backprojection's buffers, the filter weights and the FFT's
    /// twiddles, and per batch of lines the padded lines, their half spectra and the FFT's work buffers; as many lines
    /// per batch as fit the budget beside the rest (PerChunk: lines per batch).
    /// </summary>
    public static Chunked FilterBackproject(SlabGeometry g, int pad, long deviceBytes)
    {
        long lines = (long)g.Views * g.ProjectionRows;
        long fixedBytes = Backproject(g) + sizeof(float) * Fft2DArguments.HalfWidth(pad) + StockhamTwiddleBytes(pad, 1);
        long perLine = sizeof(float) * (pad + Fft2DArguments.SpectrumLength(pad, 1, 1)) + StockhamWorkBytes(pad, 1, 1);
        long budget = Budget(deviceBytes);
        long fit = Math.Clamp((budget - fixedBytes) / perLine, 1, Math.Max(1, lines));
        int batch = (int)Math.Max(1, Math.Min(fit, int.MaxValue / (2L * pad)));
        return new Chunked(batch, fixedBytes + batch * perLine, budget);
    }

    /// <summary>Forward projection of a slab: the slab, cos/sin and the projections.</summary>
    public static long Project(SlabGeometry g) =>
        sizeof(float) * (Math.Max(1, g.SlabLength) + 2L * Math.Max(1, g.Views) + Math.Max(1, g.ProjectionLength));

    /// <summary>
    /// SIRT of a slab, resident on the device for every iteration, on the widened box <paramref name="box"/>
    /// (<see cref="SirtBox.Widened"/>): cos/sin and unit weights per view; the measured projections, the current
    /// projections (the residual in place) and the ray lengths; the volume, the backprojected update and the per-voxel
    /// view counts. The central slab comes back through the update buffer.
    /// </summary>
    public static long Sirt(SlabGeometry box) =>
        sizeof(float) * (3L * Math.Max(1, box.Views) + 3L * Math.Max(1, box.ProjectionLength) + 3L * Math.Max(1, box.SlabLength));

    /// <summary>The bundle adjustment's buffers for one problem (held until the next problem or disposal).</summary>
    public static long Bundle(int observations, int views, int landmarks)
    {
        long n = observations, v = views, l = landmarks;
        long ints = Math.Max(1, n) * 4 + Math.Max(1, v + 1) + Math.Max(1, l + 1);
        long doubles = Math.Max(1, 2 * n) + Math.Max(1, BundleKernels.ViewCoefficients * v) + Math.Max(1, 3 * l) + Math.Max(1, n)
                       + Math.Max(1, 2 * n) + Math.Max(1, 10 * n) + Math.Max(1, 6 * n) + Math.Max(1, 15 * n)
                       + Math.Max(1, 25 * v) + Math.Max(1, 5 * v) + Math.Max(1, 9 * l) + Math.Max(1, 3 * l);
        return sizeof(int) * ints + sizeof(double) * doubles;
    }

    /// <summary>
    /// Work buffers of one batched transform: the Stockham FFT's two complex ping-pong frames per image. On CUDA cuFFT
    /// allocates its own work area (metered from cufftGetSize); it is planned with this same bound, which is larger
    /// than cuFFT's documented work size for R2C/C2R (at most about one complex frame per image).
    /// </summary>
    public static long StockhamWorkBytes(int nx, int ny, int batch) => 2L * 2 * sizeof(float) * nx * ny * batch;

    /// <summary>The Stockham FFT's cached twiddle tables (one per transform length, kept for the backend's life).</summary>
    public static long StockhamTwiddleBytes(int nx, int ny) =>
        (FftSize.Radices(nx).Length > 0 ? 2L * sizeof(float) * nx : 0) + (ny != nx && FftSize.Radices(ny).Length > 0 ? 2L * sizeof(float) * ny : 0);

    /// <summary>The one clear error when a single unit of work does not fit the device budget.</summary>
    internal static DeviceMemoryLimitException TooSmall(string what, long bytes, long budget) => new(
        $"{what} needs {DeviceMemoryMeter.Mib(bytes)} of device memory but only {DeviceMemoryMeter.Mib(budget)} may be used " +
        $"({DeviceChunking.UsableFraction:P0} of the device or of --gpu-memory); raise --gpu-memory (TOMALIGN_GPU_MEMORY), bin more, or use --device cpu");
}
