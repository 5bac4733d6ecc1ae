// Training monitors: TensorBoard event files, progress display, JSON-lines log, PNG images and plots.
export { TensorBoardWriter, readEventFile, readTfRecords, frameRecord, FILE_VERSION } from './tensorboard.js';
export type { TbEvent, TbValue, TbImage } from './tensorboard.js';
export { ProgressBar, formatDuration, formatNumber, silentStream } from './progress.js';
export type { ProgressFields, ProgressOptions, ProgressStream } from './progress.js';
export { JsonlLogger, readJsonl } from './jsonl.js';
export { encodePng, pngSize, imageGrid, denormalize, IMAGENET_MEAN, IMAGENET_STD } from './png.js';
export type { RgbImage, GridImage } from './png.js';
export { lossCurvePng, renderLossCurve, niceTicks, niceStep, formatTick } from './plot.js';
export type { PlotPoint, PlotOptions, RenderedPlot } from './plot.js';
