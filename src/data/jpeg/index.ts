export { decodeJpeg } from './decoder.js';
