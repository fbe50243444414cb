using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Kernels;

namespace Tomalign.Gpu.Fft;

/// <summary>
/// The 2-D FFT with Tomalign's own ILGPU kernels (any accelerator): the real images are widened
/// to complex, transformed by mixed-radix Stockham passes along rows then columns (one launch
/// per pass, the whole batch at once, ping-pong between two device buffers), and the half
/// spectrum is cut out; the inverse expands the Hermitian half spectrum and runs the passes
/// backwards. Twiddle tables (exp(−2πi·m/N), computed in double, stored as float) and work
/// buffers are cached per size.
/// </summary>
public sealed class StockhamDeviceFft : IDeviceFft2D
{
    private readonly Accelerator _accelerator;
    private readonly Dictionary<int, Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, FftPass>> _passes = new();
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _realToComplex;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int> _extractHalf;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> _expandHermitian;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _takeReal;
    private readonly DeviceMemoryMeter _meter;
    private readonly Dictionary<int, DeviceBuffer<float>> _twiddles = new();
    private DeviceBuffer<float>? _workA, _workB;

    public StockhamDeviceFft(Accelerator accelerator) : this(new DeviceMemoryMeter(accelerator)) { }

    /// <param name="meter">counts the work buffers and twiddle tables.</param>
    public StockhamDeviceFft(DeviceMemoryMeter meter)
    {
        _meter = meter ?? throw new ArgumentNullException(nameof(meter));
        var accelerator = _accelerator = meter.Accelerator;
        _passes[2] = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, FftPass>(FftKernels.Radix2);
        _passes[3] = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, FftPass>(FftKernels.Radix3);
        _passes[4] = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, FftPass>(FftKernels.Radix4);
        _passes[5] = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, FftPass>(FftKernels.Radix5);
        _realToComplex = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(FftKernels.RealToComplex);
        _extractHalf = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(FftKernels.ExtractHalf);
        _expandHermitian = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(FftKernels.ExpandHermitian);
        _takeReal = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(FftKernels.TakeReal);
    }

    public string Name => "ilgpu-stockham";

    public void Forward(ArrayView<float> real, ArrayView<float> spectrum, int nx, int ny, int batch)
    {
        Check(real, spectrum, nx, ny, batch);
        long n = (long)nx * ny * batch;
        var (a, b) = Work(n);
        _realToComplex((int)n, real, a);
        var result = Passes2D(a, b, nx, ny, batch, 1f);
        _extractHalf((int)(Fft2DArguments.SpectrumLength(nx, ny, batch) / 2), result, spectrum, nx);
    }

    public void Inverse(ArrayView<float> spectrum, ArrayView<float> real, int nx, int ny, int batch)
    {
        Check(real, spectrum, nx, ny, batch);
        long n = (long)nx * ny * batch;
        var (a, b) = Work(n);
        _expandHermitian((int)n, spectrum, a, nx, ny);
        var result = Passes2D(a, b, nx, ny, batch, -1f);
        _takeReal((int)n, result, real);
    }

    /// <summary>Rows then columns; returns the buffer that holds the result.</summary>
    private ArrayView<float> Passes2D(ArrayView<float> a, ArrayView<float> b, int nx, int ny, int batch, float sign)
    {
        int np = 0;
        int ns = 1;
        foreach (int r in FftSize.Radices(nx))
        {
            var p = new FftPass(nx, ns, 1, nx, 0, 1, sign);
            _passes[r](ny * batch * (nx / r), np % 2 == 0 ? a : b, np % 2 == 0 ? b : a, Twiddles(nx), p);
            ns *= r; np++;
        }
        ns = 1;
        foreach (int r in FftSize.Radices(ny))
        {
            var p = new FftPass(ny, ns, nx, nx * ny, 1, nx, sign);
            _passes[r](nx * batch * (ny / r), np % 2 == 0 ? a : b, np % 2 == 0 ? b : a, Twiddles(ny), p);
            ns *= r; np++;
        }
        return np % 2 == 0 ? a : b;
    }

    private void Check(ArrayView<float> real, ArrayView<float> spectrum, int nx, int ny, int batch)
    {
        if (real.Length > int.MaxValue || spectrum.Length > int.MaxValue)
            throw new ArgumentException("FFT batch too large for one launch; split it");
        Fft2DArguments.Validate((int)real.Length, (int)spectrum.Length, nx, ny, batch);
        if (2L * nx * ny * batch > int.MaxValue) throw new ArgumentException("FFT batch too large for one launch; split it");
    }

    private (ArrayView<float> A, ArrayView<float> B) Work(long complexCount)
    {
        long floats = 2 * complexCount;
        if (_workA is null || _workB is null || _workA.Length < floats)
        {
            ReleaseWork();
            var a = _meter.Allocate1D<float>(floats);
            try { _workB = _meter.Allocate1D<float>(floats); }
            catch { a.Dispose(); throw; }   // refused (over the limit): hold neither
            _workA = a;
        }
        return (_workA.View.SubView(0, floats), _workB.View.SubView(0, floats));
    }

    private ArrayView<float> Twiddles(int n)
    {
        if (!_twiddles.TryGetValue(n, out var buffer))
        {
            var host = new float[2 * n];
            for (int m = 0; m < n; m++)
            {
                double a = -2.0 * Math.PI * m / n;
                host[2 * m] = (float)Math.Cos(a);
                host[2 * m + 1] = (float)Math.Sin(a);
            }
            buffer = _meter.Allocate1D(host);
            _twiddles[n] = buffer;
        }
        return buffer.View;
    }

    public void ReleaseWork()
    {
        _workA?.Dispose(); _workB?.Dispose();
        _workA = _workB = null;
    }

    public void Dispose()
    {
        foreach (var t in _twiddles.Values) t.Dispose();
        _twiddles.Clear();
        ReleaseWork();
    }
}
