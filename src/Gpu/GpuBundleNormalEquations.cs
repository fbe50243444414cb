using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// <see cref="IBundleNormalEquations"/> on an ILGPU accelerator (kernels in Tomalign.Kernels.BundleKernels).
/// The observations and their indexes are uploaded once per problem; each call uploads the view
/// coefficients (trigonometry done on the host, in double), the landmarks and the weights, runs three
/// kernels and downloads the blocks. Not safe for concurrent calls.
/// </summary>
public sealed class GpuBundleNormalEquations : IBundleNormalEquations, IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly Action<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
        ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> _observation;
    private readonly Action<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> _views;
    private readonly Action<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> _landmarks;
    private BundleProblem? _problem;
    private readonly DeviceMemoryMeter _meter;
    private readonly List<IDisposable> _buffers = [];
    private DeviceBuffer<int> _view = null!, _landmark = null!, _vStart = null!, _vItems = null!, _lStart = null!, _lItems = null!;
    private DeviceBuffer<double> _measured = null!, _coef = null!, _lm = null!, _w = null!, _res = null!, _jv = null!, _jl = null!,
        _hvl = null!, _hvv = null!, _gv = null!, _hll = null!, _gl = null!;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit.</param>
    public GpuBundleNormalEquations(Accelerator accelerator, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _observation = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
            ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>>(BundleKernels.Observation);
        _views = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
            ArrayView<double>, ArrayView<double>>(BundleKernels.ViewSums);
        _landmarks = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
            ArrayView<double>, ArrayView<double>>(BundleKernels.LandmarkSums);
    }

    public string Name => "ilgpu:" + _accelerator.Name;

    public void Accumulate(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, BundleNormalBlocks output)
    {
        RunObservations(problem, viewState, landmarks, weights);
        _views(problem.ViewCount, _vStart.View, _vItems.View, _w.View, _res.View, _jv.View, _hvv.View, _gv.View);
        _landmarks(problem.LandmarkCount, _lStart.View, _lItems.View, _w.View, _res.View, _jl.View, _hll.View, _gl.View);
        _accelerator.Synchronize();
        _res.View.CopyToCPU(output.Residual);
        _hvl.View.CopyToCPU(output.ViewLandmark);
        _hvv.View.CopyToCPU(output.ViewView);
        _gv.View.CopyToCPU(output.ViewGradient);
        _hll.View.CopyToCPU(output.LandmarkLandmark);
        _gl.View.CopyToCPU(output.LandmarkGradient);
        output.Cost = Cost(output.Residual, weights);
    }

    public double Residuals(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks,
        ReadOnlySpan<double> weights, Span<double> residual)
    {
        RunObservations(problem, viewState, landmarks, weights);
        _accelerator.Synchronize();
        var res = new double[2 * problem.ObservationCount];
        _res.View.CopyToCPU(res);
        res.CopyTo(residual);
        return Cost(res, weights);
    }

    private void RunObservations(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks, ReadOnlySpan<double> weights)
    {
        if (viewState.Length != BundleLayout.ViewStateSize * problem.ViewCount) throw new ArgumentException("view state size does not match the problem");
        if (landmarks.Length != 3 * problem.LandmarkCount) throw new ArgumentException("landmark array size does not match the problem");
        if (weights.Length != problem.ObservationCount) throw new ArgumentException("weight count does not match the problem");
        if (!ReferenceEquals(problem, _problem)) Upload(problem);
        var coef = new double[BundleKernels.ViewCoefficients * problem.ViewCount];
        for (int i = 0; i < problem.ViewCount; i++)
        {
            var v = viewState.Slice(BundleLayout.ViewStateSize * i, BundleLayout.ViewStateSize);
            int o = BundleKernels.ViewCoefficients * i;
            coef[o] = Math.Cos(v[0]); coef[o + 1] = Math.Sin(v[0]);
            coef[o + 2] = Math.Cos(v[1]); coef[o + 3] = Math.Sin(v[1]);
            coef[o + 4] = Math.Cos(v[5]); coef[o + 5] = Math.Sin(v[5]);
            coef[o + 6] = v[2]; coef[o + 7] = v[3]; coef[o + 8] = v[4];
        }
        _coef.View.CopyFromCPU(coef);
        _lm.View.CopyFromCPU(landmarks.ToArray());
        _w.View.CopyFromCPU(weights.ToArray());
        _observation(problem.ObservationCount, _view.View, _landmark.View, _measured.View, _coef.View, _lm.View, _w.View,
            _res.View, _jv.View, _jl.View, _hvl.View);
    }

    private void Upload(BundleProblem p)
    {
        Release();
        int n = p.ObservationCount;
        _view = Ints(p.View); _landmark = Ints(p.Landmark);
        _vStart = Ints(p.ByViewStart); _vItems = Ints(p.ByViewObservation);
        _lStart = Ints(p.ByLandmarkStart); _lItems = Ints(p.ByLandmarkObservation);
        var measured = new double[2 * n];
        for (int k = 0; k < n; k++) { measured[2 * k] = p.X[k]; measured[2 * k + 1] = p.Y[k]; }
        _measured = Doubles(measured.Length); _measured.View.CopyFromCPU(measured);
        _coef = Doubles(BundleKernels.ViewCoefficients * p.ViewCount);
        _lm = Doubles(3 * p.LandmarkCount);
        _w = Doubles(n);
        _res = Doubles(2 * n); _jv = Doubles(10 * n); _jl = Doubles(6 * n); _hvl = Doubles(15 * n);
        _hvv = Doubles(25 * p.ViewCount); _gv = Doubles(5 * p.ViewCount);
        _hll = Doubles(9 * p.LandmarkCount); _gl = Doubles(3 * p.LandmarkCount);
        _problem = p;
    }

    private DeviceBuffer<int> Ints(int[] data)
    {
        var b = _meter.Allocate1D<int>(data.Length);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(data);
        _buffers.Add(b);
        return b;
    }

    private DeviceBuffer<double> Doubles(long length)
    {
        var b = _meter.Allocate1D<double>(length);
        _buffers.Add(b);
        return b;
    }

    private static double Cost(ReadOnlySpan<double> res, ReadOnlySpan<double> w)
    {
        double c = 0;
        for (int k = 0; k < w.Length; k++) c += w[k] * (res[2 * k] * res[2 * k] + res[2 * k + 1] * res[2 * k + 1]);
        return c;
    }

    private void Release()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
        _problem = null;
    }

    public void Dispose() => Release();
}
