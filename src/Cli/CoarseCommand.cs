using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// IMOD tiltxcorr: coarse alignment of a raw stack by cross-correlating neighbouring views.
    /// Writes NAME.prexf, NAME.prexg and NAME.coarse.json into --out; the inputs are only read.
    /// </summary>
    private static Command Coarse(TextWriter stdout, TextWriter stderr)
    {
        var d = new CoarseAlignOptions();
        var stack = new Argument<string>("STACK") { Description = "The raw tilt series, MRC (.mrc/.st) or a multi-page TIFF stack (.tif, as SerialEM writes it)." };
        var angles = new Option<string>("--angles") { Description = "Tilt angles, one per view (.rawtlt/.tlt); optional with --mdoc, an mdoc beside the stack, or angles in the MRC extended header." };
        var mdoc = MdocOption();
        var axis = new Option<string>("--tilt-axis") { Description = "Tilt-axis angle in the raw image, degrees counter-clockwise from +Y (IMOD's rotation angle), or auto: searched by the coarse correlation (modulo 180°).", Required = true };
        var auto = CoarseAlignOptions.AutomaticFilter;
        var bin = new Option<int>("--bin") { Description = "Binning for the correlation; 0 (default): automatic, from the views' signal-to-noise by scale (at least the larger side to about 1024 pixels), then the more trustworthy of it and coarser ones.", DefaultValueFactory = _ => 0 };
        var sigma1 = new Option<double?>("--sigma1") { Description = $"High-pass: inverted Gaussian sigma, cycles/binned pixel (IMOD FilterSigma1; default {auto.Sigma1}). Giving any filter value fixes the filter." };
        var radius2 = new Option<double?>("--radius2") { Description = $"Low-pass: radius where the Gaussian fall-off starts, cycles/binned pixel (IMOD FilterRadius2; default {auto.Radius2})." };
        var sigma2 = new Option<double?>("--sigma2") { Description = $"Low-pass: sigma of the fall-off, cycles/binned pixel (IMOD FilterSigma2; default {auto.Sigma2})." };
        var exclude = new Option<bool>("--exclude-central-peak") { Description = "Ignore the correlation peak at zero shift (fixed-pattern noise of the camera)." };
        var clip = new Option<double?>("--clip") { Description = $"Damp beads and hot pixels: clip the smoothed views to median ± N robust SDs; 0: off (plain tiltxcorr). Default: automatic, both tried ({CoarseAlignOptions.AutomaticClipStdDevs} and 0) and the more trustworthy kept." };
        var minSnr = new Option<double>("--min-peak-snr") { Description = "A pair is trusted only if its correlation peak is at least this multiple of the null correlation's (the moving view turned by 180°).", DefaultValueFactory = _ => d.MinPeakSnr };
        var cumulative = new Option<bool>("--cumulative") { Description = "Then correlate each view with the mean of the views already aligned toward zero tilt (tiltxcorr -cumulative; sequential, slower)." };
        var maxShift = new Option<double>("--max-shift") { Description = "Largest shift between neighbours, unbinned pixels; 0: no limit.", DefaultValueFactory = _ => 0 };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for NAME.prexf, NAME.prexg and NAME.coarse.json.", Required = true };
        var excludeViews = ExcludeViewsOption("not correlated, as tiltxcorr's SkipViews; each gets the identity line in NAME.prexf and the chain is bridged across it (NAME.prexg still has one line per view).");
        var device = DeviceOption();
        var cmd = new Command("coarse",
            "Coarse alignment by cross-correlation of neighbouring views with cosine stretch (IMOD tiltxcorr): writes NAME.prexf " +
            "(line i aligns view i to view i−1), NAME.prexg (every view to the view nearest zero tilt; use it with `tomalign apply`) " +
            "and NAME.coarse.json with the peak strength of every pair.")
        { stack, angles, mdoc, axis, bin, sigma1, radius2, sigma2, exclude, clip, minSnr, cumulative, maxShift, excludeViews, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, anglesPath = p.GetValue(angles) ?? "", dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            RequireBaseName(baseName);
            int binning = p.GetValue(bin);
            if (binning < 0) throw new TomalignInputException(null, $"--bin {binning} is not a binning factor", "use --bin 0 (automatic) or 1 or more");
            BandPassFilter? filter = null;
            double? s1 = p.GetValue(sigma1), r2 = p.GetValue(radius2), s2 = p.GetValue(sigma2);
            try
            {
                if (s1 is not null || r2 is not null || s2 is not null)
                    filter = new BandPassFilter(s1 ?? auto.Sigma1, r2 ?? auto.Radius2, s2 ?? auto.Sigma2);
            }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "use filter values ≥ 0 in cycles/pixel, e.g. --sigma1 0.03 --radius2 0.25 --sigma2 0.05"); }
            var options = d with
            {
                Bin = binning, Filter = filter, ExcludeCentralPeak = p.GetValue(exclude),
                ClipStdDevs = p.GetValue(clip), MinPeakSnr = p.GetValue(minSnr), CumulativeReference = p.GetValue(cumulative), MaxShiftPixels = p.GetValue(maxShift),
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the coarse options (tomalign coarse --help)"); }

            var report = new RunReport("coarse", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            report.Inputs.AddRange(InputPaths(input, anglesPath, p.GetValue(mdoc)));
            var (data, tilts) = report.Stage("read", () => ReadSeries(input, anglesPath, ctx.Progress("read"), p.GetValue(mdoc), ctx, report));
            int[] excluded = ExcludedViews(p.GetValue(excludeViews), data.Nz);
            if (data.Nz - excluded.Length < 2)
                throw new TomalignInputException(input, $"only {data.Nz - excluded.Length} of its {data.Nz} views are left after --exclude-views", "exclude fewer views");
            options = options with { SkipViews = excluded };
            ReportExcluded(report, excluded);
            int effectiveBin = binning > 0 ? binning : CoarseAligner.AutoBin(data.Nx, data.Ny, options.AutoBinTargetPixels);
            if (data.Nx / effectiveBin < 8 || data.Ny / effectiveBin < 8)
                throw new TomalignInputException(input, $"views of {data.Nx}×{data.Ny} binned by {effectiveBin} are too small to correlate (under 8 pixels)",
                    "use a smaller --bin (or 0 for automatic), on views of at least 8×8 pixels");

            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            var aligner = new CoarseAligner(backend.PairCorrelator, ctx.Log);
            options = options with { TiltAxisDegrees = ResolveTiltAxis(ParseTiltAxis(p.GetValue(axis)!), backend.PairCorrelator, data, tilts, ctx, report) };
            var result = report.Stage("coarse", () => aligner.Align(data, tilts, options));

            Directory.CreateDirectory(dir);
            string prexf = Path.Combine(dir, baseName + ".prexf"), prexg = Path.Combine(dir, baseName + ".prexg");
            ImodText.WriteXf(prexf, result.Prexf);
            ImodText.WriteXf(prexg, result.Prexg);
            report.Outputs.AddRange([Path.GetFullPath(prexf), Path.GetFullPath(prexg)]);
            report.Warnings.AddRange(result.Warnings);
            report.Results["views"] = data.Nz;
            report.Results["referenceView"] = result.ReferenceView;
            report.Results["tiltAxisDegrees"] = options.TiltAxisDegrees;
            report.Results["bin"] = result.Bin;
            report.Results["paddedSize"] = new[] { result.PaddedWidth, result.PaddedHeight };
            report.Results["filter"] = new { sigma1 = result.Filter.Sigma1, radius2 = result.Filter.Radius2, sigma2 = result.Filter.Sigma2 };
            report.Results["clipStdDevs"] = result.ClipStdDevs;
            var q = result.Quality;
            report.Results["quality"] = new
            {
                pairs = q.Pairs, trustedPairs = q.TrustedPairs, fractionTrusted = q.FractionTrusted, interpolatedPairs = q.InterpolatedPairs,
                untrustedViews = q.UntrustedViews, medianPeakSnr = Finite(q.MedianPeakSnr), chainClosureRmsPixels = Finite(q.ChainClosureRmsPixels),
                largestShiftFraction = q.LargestShiftFraction, consistent = q.Consistent, trustworthy = q.Trustworthy, bin = q.Bin, beadsDamped = q.BeadsDamped, settingsSource = q.SettingsSource,
                spectral = q.Spectral is { } sp ? new { scales = sp.Scales, bandSnr = sp.BandSnr.Select(Finite).ToArray(), relativeNoiseVariance = sp.RelativeNoiseVariance, cutoffCyclesPerPixel = sp.CutoffCyclesPerPixel, views = sp.Views } : null,
                candidates = q.Candidates.Select(c => new { bin = c.Bin, beadsDamped = c.BeadsDamped, fractionTrusted = c.FractionTrusted, medianPeakSnr = Finite(c.MedianPeakSnr), chainClosureRmsPixels = Finite(c.ChainClosureRmsPixels) }).ToArray(),
            };
            report.Results["viewTrusted"] = result.ViewTrusted;
            report.Results["cumulativeReference"] = options.CumulativeReference;
            report.Results["blankViews"] = result.BlankViews;
            report.Results["pairs"] = result.Pairs.Select(r => new
            {
                view = r.View, neighbour = r.Neighbour, reference = r.ReferenceView, moving = r.MovingView, stretch = r.Stretch,
                peakStrength = r.Strength, peakDx = r.PeakDx, peakDy = r.PeakDy, dx = r.Dx, dy = r.Dy, fitWeight = r.FitWeight,
                nullStrength = r.NullStrength, peakSnr = Finite(r.PeakSnr), closureResidualPixels = Finite(r.ClosureResidualPixels),
                binningDisagreementPixels = Finite(r.BinningDisagreementPixels), trusted = r.Trusted, retried = r.Retried,
                interpolated = r.Interpolated, bin = r.Bin, beadsDamped = r.BeadsDamped,
            }).ToArray();
            report.Write(Path.Combine(dir, baseName + ".coarse.json"));
            ctx.Log.LogInformation("Coarse alignment of {Nz} views ({Pairs} pairs, bin {Bin}, reference view {Reference}) in {Seconds:F2} s: {Prexf}, {Prexg}",
                data.Nz, result.Pairs.Count, result.Bin, result.ReferenceView, report.TotalSeconds, prexf, prexg);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>A finite number, or null (JSON has no NaN).</summary>
    private static double? Finite(double x) => double.IsFinite(x) ? x : null;

    /// <summary>Reads a raw stack and its angles (<see cref="TiltSeriesReader.Read"/>); Ctrl-C stops it.</summary>
    internal static (ImageStack Stack, double[] Tilts) ReadSeries(string stackPath, string anglesPath, IProgress<double> progress) =>
        TiltSeriesReader.Read(stackPath, anglesPath, progress, Cancellation);

    /// <summary>Reads a raw stack and its angles from the angle file, else the mdoc (given or beside) or the extended header; warnings
    /// (a header that contradicts the data, an mdoc that does not fit) go to the log and the report.</summary>
    internal static (ImageStack Stack, double[] Tilts) ReadSeries(string stackPath, string anglesPath, IProgress<double> progress, string? mdocPath,
        CliContext ctx, RunReport report) =>
        TiltSeriesReader.Read(stackPath, anglesPath, mdocPath, progress, Cancellation, w => { ctx.Log.LogWarning("{Warning}", w); report.Warnings.Add(w); });

    /// <summary>Angles from an angle file, else from an mdoc (a file, a folder or a pattern of per-tilt mdocs); neither: an input error.</summary>
    internal static double[] AnglesOrMdoc(string anglesPath, string? mdocPath)
    {
        if (anglesPath.Length > 0) return ImodText.ReadAngles(anglesPath);
        if (!string.IsNullOrWhiteSpace(mdocPath)) return SerialEmMdoc.ReadAny(mdocPath).TiltAngles;
        throw new TomalignInputException(null, "no tilt angles were given", "give --angles F.tlt or --mdoc F.mdoc");
    }

    /// <summary>The full paths of a command's inputs that were given (an empty angle path: none).</summary>
    internal static IEnumerable<string> InputPaths(params string?[] paths) =>
        paths.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => Path.GetFullPath(p!));
}
